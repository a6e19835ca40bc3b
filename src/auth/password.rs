//! Password hashing (argon2id, PHC strings) and generation of passwords and random tokens.

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// Minimum length of a chosen password.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Hashes with argon2id and a random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any input")
        .to_string()
}

/// Verifies a password against a stored PHC string; a malformed hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the same time as a real verification, for unknown user names.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("not-a-real-password"));
    let _ = verify(password, phc);
}

/// Why a chosen password is refused, if it is.
pub fn weakness(password: &str) -> Option<&'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Some("password must have at least 10 characters");
    }
    if password.trim() != password {
        return Some("password must not start or end with spaces");
    }
    None
}

/// A readable random password (16 characters, ~94 bits).
pub fn generate() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// 32 random bytes, hex encoded (session ids, CSRF tokens, API tokens).
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// sha256 hex of a high-entropy secret (how session ids and API tokens are stored).
pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("x", "not a phc string"));
        assert_ne!(h, hash("correct horse battery"), "salted");
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let p = generate();
        assert_eq!(p.len(), 16);
        assert!(weakness(&p).is_none());
        assert_ne!(p, generate());
        assert_eq!(random_hex().len(), 64);
        assert_eq!(
            weakness("short"),
            Some("password must have at least 10 characters")
        );
    }
}
