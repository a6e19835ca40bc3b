-- Sandbox data: a release mutex left behind by a release that cannot be cancelled, and a
-- running release plan with its application services.

INSERT INTO lks_res_deploy_mutex (tenant_id, workspace_id, ref_res_type, ref_resource, deploy_id, operator, lock_version, lease_seconds, ext_info, memo) VALUES
 ('ANTCLOUD', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'order-service', 'deploy-20261204-0931', '张三', 3, 600.000, '{"cell": "rz00a", "batch": 2}', '发布中断后遗留的互斥记录'),
 ('ANTCLOUD', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'order-service', 'deploy-20261204-0931', '张三', 3, 600.000, '{"cell": "rz00b", "batch": 2}', NULL),
 ('ANTCLOUD', 'ws-prod', 'MULTI_CONTAINER_SERVICE', 'payment-gateway', 'deploy-20261203-2210', 'lisi', 1, NULL, NULL, NULL),
 ('ANTCLOUD', 'ws-test', 'APP', 'order-service', 'deploy-20261201-1010', 'bot', 0, NULL, NULL, '其他资源类型，不会被清理');

INSERT INTO ldc_plan (time_series_id, tenant_id, app_name, title, state, creator, progress, ext_info) VALUES
 ('shuang_202103261537288405', 'ANTCLOUD', 'order', '订单服务分批发布', 'RUNNING', '张三', 40.00, '{"batches": 3}'),
 ('shuang_202103251210110001', 'ANTCLOUD', 'payment', '支付网关发布', 'SUCCESS', 'lisi', 100.00, NULL);

INSERT INTO ldc_service (plan_id, service_name, cell, state, batch_no, detail) VALUES
 (1, 'order-service', 'rz00a', 'RUNNING', 1, '第一批'),
 (1, 'order-service', 'rz00b', 'INIT', 2, NULL),
 (1, 'order-web', 'rz00a', 'SUCCESS', 1, NULL),
 (2, 'payment-gateway', 'rz00a', 'SUCCESS', 1, NULL);
