/* Unit tests for configuration loading, environment overrides, secrets and
 * redaction in logs and --check-config output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cs_config.h"
#include "cs_log.h"

static char path[64];

static const char *write_conf(const char *text)
{
    snprintf(path, sizeof path, "/tmp/cs-test-conf-%d.conf", (int)getpid());
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void expect_load_error(const char *text, const char *want)
{
    char err[512] = "";
    cs_config *c = cs_config_new();
    int rc = cs_config_load_file(c, write_conf(text), err, sizeof err);
    cs_config_destroy(c);
    unlink(path);
    if (rc == 0 || !strstr(err, want))
        fail_msg("config %s: got rc %d \"%s\", want error containing \"%s\"", text, rc, err, want);
}

static void test_defaults(void **state __attribute__((unused)))
{
    cs_config *c = cs_config_new();
    assert_string_equal(c->kafka_topic, "catalog.product-events");
    assert_string_equal(c->kafka_dlq_topic, "catalog.product-events.dlq");
    assert_string_equal(c->redis_prefix, "catalogsync:");
    assert_int_equal(c->event_max_bytes, 1048576);
    cs_config_destroy(c);
}

static void test_valid_file(void **state __attribute__((unused)))
{
    char err[512];
    cs_config *c = cs_config_new();
    assert_int_equal(cs_config_load_file(c, write_conf(
        "# comment\n"
        "kafka = { brokers = \"10.0.0.1:9092\"; topic = \"t\"; dlq_topic = \"t.dlq\";\n"
        "  properties = [\"linger.ms=20\", \"compression.type=lz4\"]; };\n"
        "redis = { port = 6380; prefix = \"cs:\"; };\n"
        "events = { max_bytes = 2048; };\n"
        "log = { level = \"debug\"; format = \"json\"; };\n"), err, sizeof err), 0);
    unlink(path);
    assert_string_equal(c->kafka_brokers, "10.0.0.1:9092");
    assert_int_equal(c->redis_port, 6380);
    assert_int_equal(c->event_max_bytes, 2048);
    assert_int_equal(c->n_kafka_props, 2);
    assert_string_equal(c->kafka_props[0].key, "linger.ms");
    assert_string_equal(c->kafka_props[0].value, "20");
    assert_string_equal(c->log_format, "json");
    cs_config_destroy(c);
}

static void test_errors_name_file_and_line(void **state __attribute__((unused)))
{
    expect_load_error("kafka = {\n  brokerz = \"x\";\n};\n", ".conf:2: unknown key \"brokerz\" in section \"kafka\"");
    expect_load_error("\n\nfoo = { a = 1; };\n", ".conf:3: unknown section \"foo\"");
    expect_load_error("redis = {\n port = \"6379\";\n};\n", ".conf:2: redis.port must be an integer, got a string");
    expect_load_error("redis = { port = 70000; };\n", "redis.port must be an integer from 1 to 65535");
    expect_load_error("kafka = { topic = 5; };\n", "kafka.topic must be a string, got an integer");
    expect_load_error("log = { level = \"loud\"; };\n", "log.level must be one of error, warn, info, debug");
    expect_load_error("\nkafka = { brokers = ; };\n", ".conf:2: syntax error");
    expect_load_error("kafka = { properties = \"linger.ms=5\"; };\n", "kafka.properties must be a list");
    expect_load_error("kafka = { properties = [\"linger.ms\"]; };\n", "must be a \"name=value\" string");
    expect_load_error("redis = { password = \"hunter2hunter2\"; };\n",
                      "redis.password is a secret: write \"env:VARIABLE\"");
    expect_load_error("kafka = { properties = [\"sasl.password=plain\"]; };\n",
                      "kafka property sasl.password is a secret");
    expect_load_error("redis = { password = \"env:CS_TEST_UNSET_VAR\"; };\n",
                      "environment variable CS_TEST_UNSET_VAR is not set");
    expect_load_error("redis = 5;\n", "\"redis\" must be a group");
}

static void test_missing_file(void **state __attribute__((unused)))
{
    char err[512];
    cs_config *c = cs_config_new();
    assert_int_not_equal(cs_config_load_file(c, "/nonexistent/cs.conf", err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/cs.conf: cannot open"));
    cs_config_destroy(c);
}

static void test_env_overrides(void **state __attribute__((unused)))
{
    char err[512];
    cs_config *c = cs_config_new();
    setenv("CATALOGSYNC_KAFKA_BROKERS", "127.0.0.1:1234", 1);
    setenv("CATALOGSYNC_REDIS_PORT", "7000", 1);
    setenv("CATALOGSYNC_KAFKA_PROP_LINGER_MS", "50", 1);
    assert_int_equal(cs_config_apply_env(c, err, sizeof err), 0);
    assert_string_equal(c->kafka_brokers, "127.0.0.1:1234");
    assert_int_equal(c->redis_port, 7000);
    assert_int_equal(c->n_kafka_props, 1);
    assert_string_equal(c->kafka_props[0].key, "linger.ms");
    assert_string_equal(c->kafka_props[0].value, "50");
    setenv("CATALOGSYNC_REDIS_PORT", "seven", 1);
    assert_int_not_equal(cs_config_apply_env(c, err, sizeof err), 0);
    assert_non_null(strstr(err, "CATALOGSYNC_REDIS_PORT: redis.port must be an integer"));
    unsetenv("CATALOGSYNC_KAFKA_BROKERS");
    unsetenv("CATALOGSYNC_REDIS_PORT");
    unsetenv("CATALOGSYNC_KAFKA_PROP_LINGER_MS");
    cs_config_destroy(c);
}

static void test_secrets_resolved_and_redacted(void **state __attribute__((unused)))
{
    char err[512], secret_path[64];
    snprintf(secret_path, sizeof secret_path, "/tmp/cs-test-secret-%d", (int)getpid());
    FILE *fp = fopen(secret_path, "w");
    fputs("kafka-pass-from-file\n", fp);
    fclose(fp);
    setenv("CS_TEST_REDIS_PW", "redis-pass-from-env", 1);
    char text[512];
    snprintf(text, sizeof text,
             "redis = { password = \"env:CS_TEST_REDIS_PW\"; };\n"
             "kafka = { properties = [\"sasl.password=file:%s\", \"linger.ms=1\"]; };\n",
             secret_path);
    cs_config *c = cs_config_new();
    assert_int_equal(cs_config_load_file(c, write_conf(text), err, sizeof err), 0);
    unlink(path);
    unlink(secret_path);
    assert_string_equal(c->redis_password, "redis-pass-from-env");
    assert_string_equal(c->kafka_props[0].value, "kafka-pass-from-file");
    assert_int_equal(c->kafka_props[0].secret, 1);
    assert_int_equal(cs_config_finalize(c, err, sizeof err), 0);

    char *dump = NULL;
    size_t dump_len = 0;
    FILE *mem = open_memstream(&dump, &dump_len);
    cs_config_dump(c, mem);
    fclose(mem);
    assert_null(strstr(dump, "redis-pass-from-env"));
    assert_null(strstr(dump, "kafka-pass-from-file"));
    assert_non_null(strstr(dump, "password = \"[REDACTED]\""));
    assert_non_null(strstr(dump, "sasl.password=[REDACTED]"));
    assert_non_null(strstr(dump, "linger.ms=1"));
    free(dump);

    /* The logger masks registered secrets wherever they appear. */
    char *log = NULL;
    size_t log_len = 0;
    mem = open_memstream(&log, &log_len);
    cs_log_set_stream(mem);
    cs_log_set_format(CS_LOG_JSON);
    CS_ERROR("test", "connect failed with password=%s and %s", c->redis_password,
             "kafka-pass-from-file");
    cs_log_set_stream(NULL);
    cs_log_set_format(CS_LOG_TEXT);
    fclose(mem);
    assert_null(strstr(log, "redis-pass-from-env"));
    assert_null(strstr(log, "kafka-pass-from-file"));
    assert_non_null(strstr(log, "password=[REDACTED]"));
    assert_non_null(strstr(log, "\"level\":\"error\""));
    free(log);
    cs_log_clear_secrets();
    unsetenv("CS_TEST_REDIS_PW");
    cs_config_destroy(c);
}

static void test_sink_secrets_resolved_only_on_demand(void **state __attribute__((unused)))
{
    char err[512];
    unsetenv("CS_T_META_TOKEN");
    cs_config *c = cs_config_new();
    assert_int_equal(cs_config_load_file(c, write_conf(
        "meta = { catalogs = ( { id = \"main\"; catalog_id = \"1\"; token = \"env:CS_T_META_TOKEN\"; } ); };\n"
        "woocommerce = { connections = ( { id = 3; base_url = \"https://s.example\";\n"
        "  consumer_key = \"env:CS_T_WK\"; consumer_secret = \"file:/nonexistent/cs\"; } ); };\n"),
        err, sizeof err), 0);
    unlink(path);
    /* The publisher and the other sink's workers never need these. */
    assert_int_equal(cs_config_finalize(c, err, sizeof err), 0);
    assert_int_not_equal(cs_config_resolve_sink_secrets(c, "meta", err, sizeof err), 0);
    assert_non_null(strstr(err, "meta.catalogs[0].token: environment variable CS_T_META_TOKEN is not set"));
    setenv("CS_T_META_TOKEN", "meta-secret-token-42", 1);
    assert_int_equal(cs_config_resolve_sink_secrets(c, "meta", err, sizeof err), 0);
    assert_string_equal(c->meta_catalogs[0].token, "meta-secret-token-42");
    assert_int_not_equal(cs_config_resolve_sink_secrets(c, "woocommerce", err, sizeof err), 0);
    assert_non_null(strstr(err, "woocommerce.connections[0].consumer_key"));

    char *dump = NULL;
    size_t dump_len = 0;
    FILE *mem = open_memstream(&dump, &dump_len);
    cs_config_dump(c, mem);
    fclose(mem);
    assert_null(strstr(dump, "meta-secret-token-42"));
    assert_non_null(strstr(dump, "token = \"[REDACTED]\""));
    assert_non_null(strstr(dump, "consumer_key = \"env:CS_T_WK\""));
    free(dump);
    expect_load_error("meta = { catalogs = ( { id = \"m\"; token = \"EAAB-literal\"; } ); };\n",
                      "meta.catalogs[0].token is a secret");
    cs_log_clear_secrets();
    unsetenv("CS_T_META_TOKEN");
    cs_config_destroy(c);
}

static void test_log_levels(void **state __attribute__((unused)))
{
    char *log = NULL;
    size_t log_len = 0;
    FILE *mem = open_memstream(&log, &log_len);
    cs_log_set_stream(mem);
    cs_log_set_level(CS_LOG_WARN);
    CS_INFO("test", "hidden %d", 1);
    CS_WARN("test", "shown %d", 2);
    cs_log_set_stream(NULL);
    cs_log_set_level(CS_LOG_INFO);
    fclose(mem);
    assert_null(strstr(log, "hidden"));
    assert_non_null(strstr(log, "WARN  test: shown 2"));
    free(log);
    assert_int_equal(cs_log_level_parse("DEBUG"), CS_LOG_DEBUG);
    assert_int_equal(cs_log_level_parse("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_errors_name_file_and_line),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_env_overrides),
        cmocka_unit_test(test_secrets_resolved_and_redacted),
        cmocka_unit_test(test_sink_secrets_resolved_only_on_demand),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
