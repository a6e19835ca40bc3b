//! String catalogues, one per language (`i18n/zh-CN.toml`, `i18n/en.toml`), compiled in.
//! Templates look strings up by dotted key; tests check both catalogues have the same keys and
//! that every key a template uses exists.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A UI language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "zh-CN" | "zh" | "zh-cn" => Some(Lang::ZhCn),
            "en" | "en-US" | "en-GB" => Some(Lang::En),
            _ => None,
        }
    }

    /// BCP 47 tag, for `<html lang>` and the cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language (for the switch link).
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }

    pub fn catalog(self) -> &'static Catalog {
        static ZH: OnceLock<Catalog> = OnceLock::new();
        static EN: OnceLock<Catalog> = OnceLock::new();
        match self {
            Lang::ZhCn => {
                ZH.get_or_init(|| Catalog::parse(ZH_SOURCE).expect("zh-CN catalogue is valid TOML"))
            }
            Lang::En => {
                EN.get_or_init(|| Catalog::parse(EN_SOURCE).expect("en catalogue is valid TOML"))
            }
        }
    }
}

pub const ZH_SOURCE: &str = include_str!("i18n/zh-CN.toml");
pub const EN_SOURCE: &str = include_str!("i18n/en.toml");

/// Flattened `section.key → text`.
#[derive(Debug)]
pub struct Catalog {
    strings: HashMap<String, String>,
}

impl Catalog {
    pub fn parse(src: &str) -> Result<Catalog, String> {
        let table: toml::Table = toml::from_str(src).map_err(|e| e.to_string())?;
        let mut strings = HashMap::new();
        flatten("", &toml::Value::Table(table), &mut strings)?;
        Ok(Catalog { strings })
    }

    /// The text for `key`; the key itself when missing (tests forbid that).
    pub fn t<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings.get(key).map(String::as_str).unwrap_or(key)
    }

    /// The text for `key` with `{name}` placeholders filled.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut s = self.t(key).to_string();
        for (name, value) in args {
            s = s.replace(&format!("{{{name}}}"), value);
        }
        s
    }

    pub fn has(&self, key: &str) -> bool {
        self.strings.contains_key(key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.strings.keys().map(String::as_str)
    }
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut HashMap<String, String>) -> Result<(), String> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out)?;
            }
            Ok(())
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
            Ok(())
        }
        other => Err(format!("{prefix}: expected a string, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn both_catalogues_have_the_same_keys() {
        let zh: BTreeSet<_> = Lang::ZhCn.catalog().keys().collect();
        let en: BTreeSet<_> = Lang::En.catalog().keys().collect();
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "zh only: {only_zh:?}; en only: {only_en:?}"
        );
    }

    #[test]
    fn every_key_used_by_templates_and_code_exists() {
        let mut missing = Vec::new();
        let roots = [
            concat!(env!("CARGO_MANIFEST_DIR"), "/templates"),
            concat!(env!("CARGO_MANIFEST_DIR"), "/src"),
        ];
        let mut files = Vec::new();
        for root in roots {
            collect(std::path::Path::new(root), &mut files);
        }
        assert!(files.len() > 5, "found the sources");
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for key in used_keys(&text) {
                if !Lang::ZhCn.catalog().has(&key) {
                    missing.push(format!("{}: {key}", f.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "missing catalogue keys:\n{}",
            missing.join("\n")
        );
    }

    /// Keys appear as `.t("a.b")` / `.fmt1("a.b", …)` in templates and code.
    fn used_keys(text: &str) -> Vec<String> {
        let mut keys = Vec::new();
        for pat in [".t(\"", ".fmt(\"", ".fmt1(\"", ".fmt2(\""] {
            let mut rest = text;
            while let Some(i) = rest.find(pat) {
                rest = &rest[i + pat.len()..];
                if let Some(end) = rest.find('"') {
                    let key = &rest[..end];
                    if key.contains('.')
                        && key
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
                    {
                        keys.push(key.to_string());
                    }
                }
            }
        }
        keys
    }

    fn collect(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                collect(&p, out);
            } else if p.extension().is_some_and(|x| x == "html" || x == "rs")
                && !p.ends_with("web/i18n.rs")
            {
                out.push(p);
            }
        }
    }

    #[test]
    fn placeholders_are_filled() {
        let c = Catalog::parse("[a]\nb = \"你好 {name}\"").unwrap();
        assert_eq!(c.fmt("a.b", &[("name", "张三")]), "你好 张三");
        assert_eq!(c.t("a.missing"), "a.missing");
    }
}
