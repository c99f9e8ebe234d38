/*
 * test_config.c - the server configuration: every key of SPEC.md's
 * example, defaults, and the exact "FILE:LINE: KEY: problem" message of
 * each kind of mistake.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "err.h"
#include "util.h"

#define LOG_MODULE	"test"
#include "log.h"

#define REPO_YML							\
	"repos:\n"							\
	"  - name: acme/shop\n"						\
	"    provider: github\n"					\
	"    clone_url: https://github.com/acme/shop.git\n"		\
	"    secret: env:SHOP_HOOK_SECRET\n"

static void
env_setup(void)
{
	setenv("FERRY_API_TOKEN", "api-token-1", 1);
	setenv("SHOP_HOOK_SECRET", "hook-secret", 1);
	setenv("GITHUB_TOKEN", "gh-token", 1);
	setenv("SHOP_REGISTRY_PASSWORD", "registry-pw", 1);
	setenv("SITE_HOOK_TOKEN", "site-token", 1);
	setenv("HOME", "/home/tester", 1);
	unsetenv("FERRY_UNSET_VAR");
	setenv("FERRY_EMPTY_VAR", "", 1);
}

static void
env_teardown(void)
{
}

static struct config *
parse_ok(const char *yml)
{
	struct config	*cfg = NULL;
	int		 rc;

	rc = config_parse(&cfg, "ferry.yml", yml, strlen(yml));
	ck_assert_msg(rc == 0, "config_parse failed: %s", err_msg());
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* Asserts ERR_INVALID with exactly msg; the line in the failure is ours. */
#define PARSE_BAD(yml, msg) do {					\
	struct config	*bad_cfg = (struct config *)1;			\
	int		 bad_rc;					\
									\
	bad_rc = config_parse(&bad_cfg, "ferry.yml", (yml),		\
	    strlen(yml));						\
	ck_assert_int_eq(bad_rc, ERR_INVALID);				\
	ck_assert_ptr_null(bad_cfg);					\
	ck_assert_str_eq(err_msg(), (msg));				\
} while (0)

/* A fresh temporary directory; the caller removes it. */
static char *
tmpdir_new(void)
{
	char	tmpl[] = "/tmp/ferry-config-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	return strdup(tmpl);
}

static char *
write_file(const char *dir, const char *name, const char *text)
{
	char	*path;
	FILE	*f;

	path = xasprintf("%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* The full example. */

START_TEST(full_example)
{
	struct config			*cfg = NULL;
	const struct config_repo	*r;
	int				 rc;

	rc = config_load(&cfg, TEST_DATA_DIR "/config/full.yml");
	ck_assert_msg(rc == 0, "config_load: %s", err_msg());
	ck_assert_str_eq(cfg->path, TEST_DATA_DIR "/config/full.yml");
	ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
	ck_assert_int_eq(cfg->listen_port, 8080);
	ck_assert_str_eq(cfg->data_dir, "./var");
	ck_assert_int_eq(cfg->workers, 4);
	ck_assert_str_eq(cfg->public_url, "http://localhost:8080");
	ck_assert_int_eq(cfg->max_body, 1024 * 1024);
	ck_assert_uint_eq(cfg->napi_tokens, 1);
	ck_assert_str_eq(cfg->api_tokens[0], "api-token-1");
	ck_assert_int_eq(cfg->executor, EXECUTOR_LOCAL);

	ck_assert_str_eq(cfg->kube.kubeconfig, "/home/tester/.kube/config");
	ck_assert_ptr_null(cfg->kube.context);
	ck_assert_str_eq(cfg->kube.namespace_prefix, "ferry-");
	ck_assert_str_eq(cfg->kube.source_image, "busybox:1.36");
	ck_assert_int_eq(cfg->kube.defaults.cpu_milli, 500);
	ck_assert_int_eq(cfg->kube.defaults.memory, 512LL << 20);
	ck_assert_int_eq(cfg->kube.defaults.pods, 0);
	ck_assert_int_eq(cfg->kube.quota.cpu_milli, 4000);
	ck_assert_int_eq(cfg->kube.quota.memory, 8LL << 30);
	ck_assert_int_eq(cfg->kube.quota.pods, 10);
	ck_assert_uint_eq(cfg->kube.negress, 0);
	ck_assert_int_eq(cfg->kube.schedule_timeout_ms, 5 * 60 * 1000);
	ck_assert_int_eq(cfg->kube.image_pull_timeout_ms, 2 * 60 * 1000);

	ck_assert_uint_eq(cfg->nrepos, 2);
	r = &cfg->repos[0];
	ck_assert_str_eq(r->name, "acme/shop");
	ck_assert_int_eq(r->provider, PROVIDER_GITHUB);
	ck_assert_str_eq(r->clone_url, "https://github.com/acme/shop.git");
	ck_assert_str_eq(r->secret, "hook-secret");
	ck_assert_str_eq(r->branch, "master");
	ck_assert_str_eq(r->pipeline, ".ferry.yml");
	ck_assert_str_eq(r->status_token, "gh-token");
	ck_assert_str_eq(r->api_url, "https://api.github.com");
	ck_assert_uint_eq(r->nnotify, 1);
	ck_assert_str_eq(r->notify[0], "https://hooks.example/ferry");
	ck_assert_str_eq(r->deploy_namespace, "shop-prod");
	ck_assert_str_eq(r->deploy_role, "ferry-deployer");
	ck_assert_uint_eq(r->nsecrets, 1);
	ck_assert_str_eq(r->secrets[0].name, "REGISTRY_PASSWORD");
	ck_assert_str_eq(r->secrets[0].value, "registry-pw");
	ck_assert_int_eq(r->concurrency, 2);
	ck_assert(!r->cancel_superseded);

	r = &cfg->repos[1];
	ck_assert_str_eq(r->name, "tools/site");
	ck_assert_int_eq(r->provider, PROVIDER_GITLAB);
	ck_assert_str_eq(r->clone_url, "/srv/git/site.git");
	ck_assert_str_eq(r->secret, "site-token");
	ck_assert_str_eq(r->api_url, "https://gitlab.com/api/v4");
	ck_assert_ptr_null(r->status_token);
	ck_assert_ptr_null(r->deploy_namespace);
	ck_assert_uint_eq(r->nsecrets, 0);
	ck_assert_uint_eq(r->nnotify, 0);

	/* Extensions: defaults. */
	ck_assert_int_eq(cfg->request_timeout_ms, 30000);
	ck_assert_int_eq(cfg->max_connections, 1024);
	ck_assert_int_eq(cfg->log_max, 16LL << 20);
	ck_assert_int_eq(cfg->log_level, LOGL_INFO);
	config_free(cfg);
}
END_TEST

START_TEST(full_example_names_line_of_missing_env)
{
	struct config	*cfg = NULL;

	unsetenv("SHOP_REGISTRY_PASSWORD");
	ck_assert_int_eq(config_load(&cfg, TEST_DATA_DIR "/config/full.yml"),
	    ERR_INVALID);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err_msg(), TEST_DATA_DIR "/config/full.yml:32: "
	    "repos[0].secrets.REGISTRY_PASSWORD: environment variable "
	    "SHOP_REGISTRY_PASSWORD is not set");
}
END_TEST

/* Defaults. */

START_TEST(defaults_applied)
{
	struct config			*cfg;
	const struct config_repo	*r;

	cfg = parse_ok(REPO_YML);
	ck_assert_str_eq(cfg->path, "ferry.yml");
	ck_assert_str_eq(cfg->listen_host, "127.0.0.1");
	ck_assert_int_eq(cfg->listen_port, 8080);
	ck_assert_str_eq(cfg->data_dir, "./var");
	ck_assert_int_eq(cfg->workers, 4);
	ck_assert_str_eq(cfg->public_url, "http://127.0.0.1:8080");
	ck_assert_int_eq(cfg->max_body, 1 << 20);
	ck_assert_uint_eq(cfg->napi_tokens, 0);
	ck_assert_int_eq(cfg->executor, EXECUTOR_LOCAL);
	ck_assert_ptr_null(cfg->kube.kubeconfig);
	ck_assert_ptr_null(cfg->kube.context);
	ck_assert_str_eq(cfg->kube.namespace_prefix, "ferry-");
	ck_assert_str_eq(cfg->kube.source_image, "busybox:1.36");
	ck_assert_int_eq(cfg->kube.defaults.cpu_milli, 500);
	ck_assert_int_eq(cfg->kube.defaults.memory, 512LL << 20);
	ck_assert_int_eq(cfg->kube.quota.cpu_milli, 4000);
	ck_assert_int_eq(cfg->kube.quota.memory, 8LL << 30);
	ck_assert_int_eq(cfg->kube.quota.pods, 10);
	ck_assert_int_eq(cfg->kube.schedule_timeout_ms, 300000);
	ck_assert_int_eq(cfg->kube.image_pull_timeout_ms, 120000);
	ck_assert_int_eq(cfg->request_timeout_ms, 30000);
	ck_assert_int_eq(cfg->max_connections, 1024);
	ck_assert_int_eq(cfg->log_max, 16LL << 20);
	ck_assert_int_eq(cfg->log_level, LOGL_INFO);

	ck_assert_uint_eq(cfg->nrepos, 1);
	r = &cfg->repos[0];
	ck_assert_str_eq(r->branch, "master");
	ck_assert_str_eq(r->pipeline, ".ferry.yml");
	ck_assert_str_eq(r->api_url, "https://api.github.com");
	ck_assert_ptr_null(r->status_token);
	ck_assert_ptr_null(r->notify);
	ck_assert_uint_eq(r->nnotify, 0);
	ck_assert_ptr_null(r->deploy_namespace);
	ck_assert_ptr_null(r->deploy_role);
	ck_assert_uint_eq(r->nsecrets, 0);
	ck_assert_int_eq(r->concurrency, 1);
	ck_assert(!r->cancel_superseded);
	config_free(cfg);
}
END_TEST

START_TEST(defaults_empty_file_is_valid)
{
	static const char	*texts[] = { "", "# nothing\n", "---\n", "~\n",
	    "repos: []\n", "repos:\n" };
	struct config		*cfg;
	size_t			 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		cfg = parse_ok(texts[i]);
		ck_assert_uint_eq(cfg->nrepos, 0);
		ck_assert_int_eq(cfg->workers, 4);
		ck_assert_str_eq(cfg->data_dir, "./var");
		config_free(cfg);
	}
}
END_TEST

START_TEST(defaults_null_means_unset)
{
	struct config	*cfg;

	cfg = parse_ok("workers: null\n"
	    "kubernetes:\n"
	    "  context: ~\n"
	    "  kubeconfig:\n"
	    "  defaults: null\n"
	    REPO_YML
	    "    deploy: null\n"
	    "    status_token: null\n");
	ck_assert_int_eq(cfg->workers, 4);
	ck_assert_ptr_null(cfg->kube.context);
	ck_assert_ptr_null(cfg->kube.kubeconfig);
	ck_assert_int_eq(cfg->kube.defaults.cpu_milli, 500);
	ck_assert_ptr_null(cfg->repos[0].deploy_namespace);
	ck_assert_ptr_null(cfg->repos[0].status_token);
	config_free(cfg);

	/* A quoted "null" is a string. */
	cfg = parse_ok("kubernetes: {context: \"null\"}\n");
	ck_assert_str_eq(cfg->kube.context, "null");
	config_free(cfg);
}
END_TEST

START_TEST(extensions_parsed)
{
	struct config	*cfg;

	cfg = parse_ok("request_timeout: 90s\n"
	    "max_connections: 64\n"
	    "log_max: 2MiB\n"
	    "log_level: debug\n");
	ck_assert_int_eq(cfg->request_timeout_ms, 90000);
	ck_assert_int_eq(cfg->max_connections, 64);
	ck_assert_int_eq(cfg->log_max, 2 << 20);
	ck_assert_int_eq(cfg->log_level, LOGL_DEBUG);
	config_free(cfg);

	PARSE_BAD("log_level: loud\n",
	    "ferry.yml:1: log_level: must be debug, info, warn or error");
	PARSE_BAD("max_connections: 0\n",
	    "ferry.yml:1: max_connections: must be between 1 and 100000");
	PARSE_BAD("\nrequest_timeout: soon\n",
	    "ferry.yml:2: request_timeout: invalid duration \"soon\" "
	    "(use e.g. 30s, 5m, 1h)");
	PARSE_BAD("log_max: 100\n",
	    "ferry.yml:1: log_max: must be between 1KiB and 1GiB");
}
END_TEST

/* Unknown and duplicate keys. */

START_TEST(unknown_key_top)
{
	PARSE_BAD("workers: 2\n"
	    "data_dir: /tmp\n"
	    "\n"
	    "# the port\n"
	    "lisen: :8080\n",
	    "ferry.yml:5: lisen: unknown key");
}
END_TEST

START_TEST(unknown_key_nested)
{
	PARSE_BAD("kubernetes:\n"
	    "  context: prod\n"
	    "  namespce: x\n",
	    "ferry.yml:3: kubernetes.namespce: unknown key");
	PARSE_BAD("kubernetes:\n"
	    "  defaults: {cpu: 1, pods: 3}\n",
	    "ferry.yml:2: kubernetes.defaults.pods: unknown key");
	PARSE_BAD("kubernetes:\n"
	    "  quota:\n"
	    "    cpu: 2\n"
	    "    disk: 10Gi\n",
	    "ferry.yml:4: kubernetes.quota.disk: unknown key");
	PARSE_BAD(REPO_YML
	    "  - name: acme/web\n"
	    "    provder: github\n",
	    "ferry.yml:7: repos[1].provder: unknown key");
	PARSE_BAD(REPO_YML
	    "    deploy:\n"
	    "      namespace: shop\n"
	    "      role: deployer\n"
	    "      cluster: prod\n",
	    "ferry.yml:9: repos[0].deploy.cluster: unknown key");
}
END_TEST

START_TEST(duplicate_key)
{
	PARSE_BAD("workers: 2\n"
	    "listen: :80\n"
	    "workers: 3\n",
	    "ferry.yml:3: workers: duplicate key");
	PARSE_BAD("kubernetes: {quota: {cpu: 1, cpu: 2}}\n",
	    "ferry.yml:1: kubernetes.quota.cpu: duplicate key");
	PARSE_BAD(REPO_YML
	    "    secrets:\n"
	    "      A: env:GITHUB_TOKEN\n"
	    "      A: env:GITHUB_TOKEN\n",
	    "ferry.yml:8: repos[0].secrets.A: duplicate key");
	/* A null value counts too. */
	PARSE_BAD("data_dir:\ndata_dir: /x\n",
	    "ferry.yml:2: data_dir: duplicate key");
}
END_TEST

/* Bad values, one kind each. */

START_TEST(bad_workers)
{
	PARSE_BAD("listen: :80\nworkers: many\n",
	    "ferry.yml:2: workers: not a number");
	PARSE_BAD("workers: 0\n",
	    "ferry.yml:1: workers: must be between 1 and 256");
	PARSE_BAD("workers: 257\n",
	    "ferry.yml:1: workers: must be between 1 and 256");
	PARSE_BAD("workers: 4.5\n", "ferry.yml:1: workers: not a number");
	PARSE_BAD("workers: 99999999999999999999\n",
	    "ferry.yml:1: workers: not a number");
}
END_TEST

START_TEST(listen_forms)
{
	struct config	*cfg;

	cfg = parse_ok("listen: :9000\n");
	ck_assert_ptr_null(cfg->listen_host);
	ck_assert_int_eq(cfg->listen_port, 9000);
	ck_assert_str_eq(cfg->public_url, "http://localhost:9000");
	config_free(cfg);

	cfg = parse_ok("listen: 0.0.0.0:80\n"
	    "public_url: https://ci.example.com/ferry//\n");
	ck_assert_str_eq(cfg->listen_host, "0.0.0.0");
	ck_assert_int_eq(cfg->listen_port, 80);
	ck_assert_str_eq(cfg->public_url, "https://ci.example.com/ferry");
	config_free(cfg);

	cfg = parse_ok("listen: \"[::1]:8443\"\n");
	ck_assert_str_eq(cfg->listen_host, "::1");
	ck_assert_int_eq(cfg->listen_port, 8443);
	ck_assert_str_eq(cfg->public_url, "http://[::1]:8443");
	config_free(cfg);

	cfg = parse_ok("listen: ci.example.com:65535\n");
	ck_assert_str_eq(cfg->listen_host, "ci.example.com");
	ck_assert_int_eq(cfg->listen_port, 65535);
	config_free(cfg);
}
END_TEST

START_TEST(bad_listen)
{
	PARSE_BAD("listen: 8080\n",
	    "ferry.yml:1: listen: must be host:port or :port");
	PARSE_BAD("listen: :0\n",
	    "ferry.yml:1: listen: port must be a number from 1 to 65535");
	PARSE_BAD("listen: :65536\n",
	    "ferry.yml:1: listen: port must be a number from 1 to 65535");
	PARSE_BAD("listen: \"localhost:\"\n",
	    "ferry.yml:1: listen: port must be a number from 1 to 65535");
	PARSE_BAD("listen: ::1:80\n",
	    "ferry.yml:1: listen: IPv6 addresses need brackets: [::1]:8080");
	PARSE_BAD("listen: \"[::1]8080\"\n",
	    "ferry.yml:1: listen: must be host:port, :port or [ipv6]:port");
	PARSE_BAD("listen: \"ho st:80\"\n",
	    "ferry.yml:1: listen: invalid host");
	PARSE_BAD("listen: \"\"\n", "ferry.yml:1: listen: must not be empty");
}
END_TEST

START_TEST(bad_max_body)
{
	struct config	*cfg;

	cfg = parse_ok("max_body: 64KiB\n");
	ck_assert_int_eq(cfg->max_body, 65536);
	config_free(cfg);
	PARSE_BAD("max_body: lots\n",
	    "ferry.yml:1: max_body: invalid size \"lots\" "
	    "(use e.g. 512KiB, 1MiB, 2GiB)");
	PARSE_BAD("max_body: 512\n",
	    "ferry.yml:1: max_body: must be between 1KiB and 1GiB");
	PARSE_BAD("max_body: 2GiB\n",
	    "ferry.yml:1: max_body: must be between 1KiB and 1GiB");
}
END_TEST

START_TEST(bad_provider)
{
	PARSE_BAD("repos:\n"
	    "  - name: acme/shop\n"
	    "    provider: bitbucket\n",
	    "ferry.yml:3: repos[0].provider: must be github or gitlab");
}
END_TEST

START_TEST(bad_executor)
{
	struct config	*cfg;

	cfg = parse_ok("executor: kubernetes\n");
	ck_assert_int_eq(cfg->executor, EXECUTOR_KUBERNETES);
	config_free(cfg);
	PARSE_BAD("executor: docker\n",
	    "ferry.yml:1: executor: must be local or kubernetes");
}
END_TEST

START_TEST(bad_duration)
{
	struct config	*cfg;

	cfg = parse_ok("kubernetes: {schedule_timeout: 1h30m, "
	    "image_pull_timeout: 90}\n");
	ck_assert_int_eq(cfg->kube.schedule_timeout_ms, 90 * 60 * 1000);
	ck_assert_int_eq(cfg->kube.image_pull_timeout_ms, 90 * 1000);
	config_free(cfg);
	PARSE_BAD("kubernetes:\n  schedule_timeout: 5 minutes\n",
	    "ferry.yml:2: kubernetes.schedule_timeout: invalid duration "
	    "\"5 minutes\" (use e.g. 30s, 5m, 1h)");
	PARSE_BAD("kubernetes:\n  image_pull_timeout: 0s\n",
	    "ferry.yml:2: kubernetes.image_pull_timeout: invalid duration "
	    "\"0s\" (use e.g. 30s, 5m, 1h)");
}
END_TEST

START_TEST(quantities)
{
	static const struct {
		const char	*cpu;
		int64_t		 milli;
	} cpus[] = {
		{ "500m", 500 }, { "2", 2000 }, { "0.5", 500 },
		{ "1.25", 1250 }, { "\"4\"", 4000 }, { "100m", 100 },
	};
	static const struct {
		const char	*mem;
		int64_t		 bytes;
	} mems[] = {
		{ "512Mi", 512LL << 20 }, { "8Gi", 8LL << 30 },
		{ "64Ki", 64LL << 10 }, { "1048576", 1048576 },
		{ "1G", 1000000000 }, { "500M", 500000000 }, { "10k", 10000 },
		{ "1.5Gi", 3LL << 29 }, { "1Ti", 1LL << 40 },
	};
	struct config	*cfg;
	char		 yml[128];
	size_t		 i;

	for (i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
		snprintf(yml, sizeof(yml), "kubernetes: {quota: {cpu: %s}, "
		    "defaults: {cpu: 100m}}\n", cpus[i].cpu);
		cfg = parse_ok(yml);
		ck_assert_int_eq(cfg->kube.quota.cpu_milli, cpus[i].milli);
		config_free(cfg);
	}
	for (i = 0; i < sizeof(mems) / sizeof(mems[0]); i++) {
		snprintf(yml, sizeof(yml), "kubernetes: {quota: {memory: %s}, "
		    "defaults: {memory: 1Ki}}\n", mems[i].mem);
		cfg = parse_ok(yml);
		ck_assert_int_eq(cfg->kube.quota.memory, mems[i].bytes);
		config_free(cfg);
	}
}
END_TEST

START_TEST(bad_quantities)
{
	PARSE_BAD("kubernetes:\n  defaults: {cpu: half}\n",
	    "ferry.yml:2: kubernetes.defaults.cpu: invalid cpu quantity "
	    "\"half\" (use e.g. 500m, 2, 0.5)");
	PARSE_BAD("kubernetes:\n  defaults: {cpu: 0.5m}\n",
	    "ferry.yml:2: kubernetes.defaults.cpu: invalid cpu quantity "
	    "\"0.5m\" (use e.g. 500m, 2, 0.5)");
	PARSE_BAD("kubernetes:\n  defaults: {cpu: 0.0001}\n",
	    "ferry.yml:2: kubernetes.defaults.cpu: invalid cpu quantity "
	    "\"0.0001\" (use e.g. 500m, 2, 0.5)");
	PARSE_BAD("kubernetes:\n  quota: {cpu: 0m}\n",
	    "ferry.yml:2: kubernetes.quota.cpu: must be greater than zero");
	PARSE_BAD("kubernetes:\n  quota:\n    memory: 8GB\n",
	    "ferry.yml:3: kubernetes.quota.memory: invalid memory quantity "
	    "\"8GB\" (use e.g. 512Mi, 8Gi)");
	PARSE_BAD("kubernetes:\n  quota:\n    memory: 0\n",
	    "ferry.yml:3: kubernetes.quota.memory: must be greater than zero");
	PARSE_BAD("kubernetes:\n  quota:\n    memory: 9Ei\n",
	    "ferry.yml:3: kubernetes.quota.memory: must be at most 1Pi");
	PARSE_BAD("kubernetes:\n  quota:\n    pods: 0\n",
	    "ferry.yml:3: kubernetes.quota.pods: must be between 1 and 10000");
	/* Every step would exceed its run's quota. */
	PARSE_BAD("kubernetes:\n  defaults: {cpu: 2}\n"
	    "  quota: {cpu: 1}\n",
	    "ferry.yml:2: kubernetes.defaults.cpu: exceeds "
	    "kubernetes.quota.cpu");
	PARSE_BAD("kubernetes:\n  quota: {memory: 256Mi}\n",
	    "ferry.yml:2: kubernetes.defaults.memory: exceeds "
	    "kubernetes.quota.memory");
}
END_TEST

START_TEST(bad_repo_values)
{
	PARSE_BAD(REPO_YML "    concurrency: 65\n",
	    "ferry.yml:6: repos[0].concurrency: must be between 1 and 64");
	PARSE_BAD(REPO_YML "    cancel_superseded: maybe\n",
	    "ferry.yml:6: repos[0].cancel_superseded: must be true or false");
	PARSE_BAD(REPO_YML "    api_url: api.github.com\n",
	    "ferry.yml:6: repos[0].api_url: must be an http:// or https:// "
	    "URL");
	PARSE_BAD(REPO_YML "    notify: [https://ok.example, ftp://x]\n",
	    "ferry.yml:6: repos[0].notify[1]: must be an http:// or "
	    "https:// URL");
	PARSE_BAD(REPO_YML "    deploy: {namespace: Shop_Prod, role: r}\n",
	    "ferry.yml:6: repos[0].deploy.namespace: must be a DNS label "
	    "(lowercase letters, digits and -, at most 63)");
	PARSE_BAD(REPO_YML "    branch: \"\"\n",
	    "ferry.yml:6: repos[0].branch: must not be empty");
	PARSE_BAD("kubernetes:\n  egress: [10.0.0.0/8:443, 10.0.0.0:443]\n",
	    "ferry.yml:2: kubernetes.egress[1]: must be CIDR:port, "
	    "e.g. 10.0.0.0/8:443");
	PARSE_BAD("kubernetes:\n  egress: [256.0.0.0/8:443]\n",
	    "ferry.yml:2: kubernetes.egress[0]: must be CIDR:port, "
	    "e.g. 10.0.0.0/8:443");
	PARSE_BAD("kubernetes:\n  egress: [10.0.0.0/33:443]\n",
	    "ferry.yml:2: kubernetes.egress[0]: must be CIDR:port, "
	    "e.g. 10.0.0.0/8:443");
	PARSE_BAD("kubernetes:\n  egress: [10.0.0.0/8:0]\n",
	    "ferry.yml:2: kubernetes.egress[0]: must be CIDR:port, "
	    "e.g. 10.0.0.0/8:443");
	PARSE_BAD("kubernetes:\n  namespace_prefix: Ferry-\n",
	    "ferry.yml:2: kubernetes.namespace_prefix: must start with a "
	    "lowercase letter");
}
END_TEST

START_TEST(repo_values_parsed)
{
	struct config			*cfg;
	const struct config_repo	*r;

	cfg = parse_ok(REPO_YML
	    "    cancel_superseded: yes\n"
	    "    branch: main\n"
	    "    api_url: https://ghe.example.com/api/v3/\n"
	    "kubernetes:\n"
	    "  egress: [10.0.0.0/8:443, 192.168.1.7/32:5432]\n");
	r = &cfg->repos[0];
	ck_assert(r->cancel_superseded);
	ck_assert_str_eq(r->branch, "main");
	ck_assert_str_eq(r->api_url, "https://ghe.example.com/api/v3");
	ck_assert_uint_eq(cfg->kube.negress, 2);
	ck_assert_str_eq(cfg->kube.egress[0], "10.0.0.0/8:443");
	ck_assert_str_eq(cfg->kube.egress[1], "192.168.1.7/32:5432");
	config_free(cfg);
}
END_TEST

/* Required keys. */

START_TEST(missing_required)
{
	PARSE_BAD("workers: 2\n"
	    "repos:\n"
	    "  - provider: github\n"
	    "    clone_url: /srv/git/x\n"
	    "    secret: env:SHOP_HOOK_SECRET\n",
	    "ferry.yml:3: repos[0].name: is required");
	PARSE_BAD("repos:\n"
	    "  - name: a/b\n"
	    "    clone_url: /srv/git/x\n"
	    "    secret: env:SHOP_HOOK_SECRET\n",
	    "ferry.yml:2: repos[0].provider: is required");
	PARSE_BAD(REPO_YML
	    "  - name: a/b\n"
	    "    provider: gitlab\n"
	    "    secret: env:SHOP_HOOK_SECRET\n",
	    "ferry.yml:6: repos[1].clone_url: is required");
	PARSE_BAD("repos:\n"
	    "  - name: a/b\n"
	    "    provider: gitlab\n"
	    "    clone_url: /srv/git/x\n"
	    "    secret: null\n",
	    "ferry.yml:2: repos[0].secret: is required");
	PARSE_BAD(REPO_YML "    deploy: {namespace: shop-prod}\n",
	    "ferry.yml:6: repos[0].deploy.role: is required");
	PARSE_BAD("repos:\n  - {}\n",
	    "ferry.yml:2: repos[0].name: is required");
}
END_TEST

/* Repositories. */

START_TEST(duplicate_repo)
{
	PARSE_BAD(REPO_YML
	    "  - name: acme/web\n"
	    "    provider: github\n"
	    "    clone_url: /srv/git/web\n"
	    "    secret: env:SHOP_HOOK_SECRET\n"
	    "  - provider: github\n"
	    "    clone_url: /srv/git/shop\n"
	    "    secret: env:SHOP_HOOK_SECRET\n"
	    "    name: acme/shop\n",
	    "ferry.yml:13: repos[2].name: duplicate repo github acme/shop "
	    "(also repos[0])");
}
END_TEST

START_TEST(repo_lookup)
{
	struct config			*cfg;
	const struct config_repo	*r;

	/* The same name under two providers is two repositories. */
	cfg = parse_ok(REPO_YML
	    "  - name: acme/shop\n"
	    "    provider: gitlab\n"
	    "    clone_url: /srv/git/shop\n"
	    "    secret: env:GITHUB_TOKEN\n"
	    "  - name: acme/web\n"
	    "    provider: gitlab\n"
	    "    clone_url: /srv/git/web\n"
	    "    secret: env:GITHUB_TOKEN\n");
	ck_assert_uint_eq(cfg->nrepos, 3);
	r = config_repo_find(cfg, PROVIDER_GITLAB, "acme/shop");
	ck_assert_ptr_eq(r, &cfg->repos[1]);
	ck_assert_str_eq(r->secret, "gh-token");
	ck_assert_ptr_eq(config_repo_find(cfg, PROVIDER_GITHUB, "acme/shop"),
	    &cfg->repos[0]);
	ck_assert_ptr_null(config_repo_find(cfg, PROVIDER_GITHUB,
	    "acme/web"));
	ck_assert_ptr_null(config_repo_find(cfg, PROVIDER_GITHUB, "acme"));
	ck_assert_ptr_eq(config_repo_by_name(cfg, "acme/web"),
	    &cfg->repos[2]);
	ck_assert_ptr_eq(config_repo_by_name(cfg, "acme/shop"),
	    &cfg->repos[0]);
	ck_assert_ptr_null(config_repo_by_name(cfg, "acme/shop2"));
	ck_assert_str_eq(config_provider_name(PROVIDER_GITHUB), "github");
	ck_assert_str_eq(config_provider_name(PROVIDER_GITLAB), "gitlab");
	config_free(cfg);
}
END_TEST

/* Secrets. */

START_TEST(secret_plain_refused)
{
	PARSE_BAD("\n"
	    "repos:\n"
	    "  - name: acme/shop\n"
	    "    provider: github\n"
	    "    clone_url: /srv/git/shop\n"
	    "    # oops\n"
	    "\n"
	    "\n"
	    "    secret: hunter2\n",
	    "ferry.yml:9: repos[0].secret: secrets must be env:NAME or "
	    "file:PATH, not written in the file");
	ck_assert_ptr_null(strstr(err_msg(), "hunter2"));
	PARSE_BAD(REPO_YML "    status_token: ghp_abc\n",
	    "ferry.yml:6: repos[0].status_token: secrets must be env:NAME or "
	    "file:PATH, not written in the file");
	PARSE_BAD("api_tokens: [env:FERRY_API_TOKEN, s3cret]\n",
	    "ferry.yml:1: api_tokens[1]: secrets must be env:NAME or "
	    "file:PATH, not written in the file");
	PARSE_BAD(REPO_YML "    secrets:\n      DB_PASSWORD: pa55\n",
	    "ferry.yml:7: repos[0].secrets.DB_PASSWORD: secrets must be "
	    "env:NAME or file:PATH, not written in the file");
	ck_assert_ptr_null(strstr(err_msg(), "pa55"));
	PARSE_BAD(REPO_YML "    secrets:\n      bad-name: env:X\n",
	    "ferry.yml:7: repos[0].secrets.bad-name: secret names are "
	    "letters, digits and _");
}
END_TEST

START_TEST(secret_env)
{
	struct config	*cfg;

	cfg = parse_ok("api_tokens: [env:FERRY_API_TOKEN, env:GITHUB_TOKEN]\n"
	    "listen: :1\n");
	ck_assert_uint_eq(cfg->napi_tokens, 2);
	ck_assert_str_eq(cfg->api_tokens[0], "api-token-1");
	ck_assert_str_eq(cfg->api_tokens[1], "gh-token");
	config_free(cfg);

	cfg = parse_ok("api_tokens: []\n");
	ck_assert_uint_eq(cfg->napi_tokens, 0);
	config_free(cfg);

	PARSE_BAD("listen: :1\napi_tokens:\n  - env:FERRY_UNSET_VAR\n",
	    "ferry.yml:3: api_tokens[0]: environment variable "
	    "FERRY_UNSET_VAR is not set");
	PARSE_BAD("api_tokens: [env:FERRY_EMPTY_VAR]\n",
	    "ferry.yml:1: api_tokens[0]: environment variable "
	    "FERRY_EMPTY_VAR is empty");
	PARSE_BAD("api_tokens: [\"env:\"]\n",
	    "ferry.yml:1: api_tokens[0]: env: needs a variable name of "
	    "letters, digits and _");
	PARSE_BAD("api_tokens: env:FERRY_API_TOKEN\n",
	    "ferry.yml:1: api_tokens: expected a list, not a string");
}
END_TEST

START_TEST(secret_file)
{
	struct config	*cfg = NULL;
	char		*dir, *cfgpath, *secpath, *abspath, *yml;
	int		 rc;

	dir = tmpdir_new();
	secpath = write_file(dir, "hook.secret", "s3cr3t value\n");
	abspath = write_file(dir, "token", "line1\nline2\n\n");
	yml = xasprintf("api_tokens: [file:%s]\n"
	    "repos:\n"
	    "  - name: acme/shop\n"
	    "    provider: github\n"
	    "    clone_url: /srv/git/shop\n"
	    "    secret: file:hook.secret\n", abspath);
	cfgpath = write_file(dir, "ferry.yml", yml);

	rc = config_load(&cfg, cfgpath);
	ck_assert_msg(rc == 0, "config_load: %s", err_msg());
	/* Relative to the config's directory; one newline stripped. */
	ck_assert_str_eq(cfg->repos[0].secret, "s3cr3t value");
	ck_assert_str_eq(cfg->api_tokens[0], "line1\nline2\n");
	config_free(cfg);

	/* The same text parsed as if it lived in another directory. */
	rc = config_parse(&cfg, "/nonexistent/ferry.yml", yml, strlen(yml));
	ck_assert_int_eq(rc, ERR_INVALID);
	ck_assert_str_eq(err_msg(), "/nonexistent/ferry.yml:6: "
	    "repos[0].secret: cannot open secret file "
	    "/nonexistent/hook.secret: No such file or directory");

	unlink(secpath);
	rc = config_load(&cfg, cfgpath);
	ck_assert_int_eq(rc, ERR_INVALID);
	ck_assert_ptr_null(strstr(err_msg(), "line1"));

	free(yml);
	unlink(abspath);
	unlink(cfgpath);
	rmdir(dir);
	free(secpath);
	free(abspath);
	free(cfgpath);
	free(dir);
}
END_TEST

START_TEST(secret_file_errors)
{
	struct config	*cfg = NULL;
	char		*dir, *empty, *big, *yml, *msg;
	char		*data;
	FILE		*f;

	dir = tmpdir_new();
	empty = write_file(dir, "empty", "\n");
	big = xasprintf("%s/big", dir);
	ck_assert_ptr_nonnull(f = fopen(big, "w"));
	data = calloc(1, 64 * 1024 + 2);
	memset(data, 'x', 64 * 1024 + 1);
	fputs(data, f);
	fclose(f);

	yml = xasprintf("api_tokens: [file:%s]\n", empty);
	ck_assert_int_eq(config_parse(&cfg, "ferry.yml", yml, strlen(yml)),
	    ERR_INVALID);
	msg = xasprintf("ferry.yml:1: api_tokens[0]: secret "
	    "file %s is empty", empty);
	ck_assert_str_eq(err_msg(), msg);
	free(yml);
	free(msg);

	yml = xasprintf("api_tokens: [file:%s]\n", big);
	ck_assert_int_eq(config_parse(&cfg, "ferry.yml", yml, strlen(yml)),
	    ERR_INVALID);
	msg = xasprintf("ferry.yml:1: api_tokens[0]: secret "
	    "file %s is larger than 64 KiB", big);
	ck_assert_str_eq(err_msg(), msg);
	free(yml);
	free(msg);

	/* Exactly 64 KiB is fine. */
	data[64 * 1024] = '\0';
	ck_assert_ptr_nonnull(f = fopen(big, "w"));
	fputs(data, f);
	fclose(f);
	yml = xasprintf("api_tokens: [file:%s]\n", big);
	ck_assert_int_eq(config_parse(&cfg, "ferry.yml", yml, strlen(yml)), 0);
	ck_assert_uint_eq(strlen(cfg->api_tokens[0]), 64 * 1024);
	config_free(cfg);
	free(yml);

	PARSE_BAD("api_tokens: [\"file:\"]\n",
	    "ferry.yml:1: api_tokens[0]: file: needs a path");

	unlink(empty);
	unlink(big);
	rmdir(dir);
	free(data);
	free(empty);
	free(big);
	free(dir);
}
END_TEST

START_TEST(kubeconfig_home)
{
	struct config	*cfg;

	cfg = parse_ok("kubernetes: {kubeconfig: ~/k/config, context: prod}\n");
	ck_assert_str_eq(cfg->kube.kubeconfig, "/home/tester/k/config");
	ck_assert_str_eq(cfg->kube.context, "prod");
	config_free(cfg);
	cfg = parse_ok("kubernetes: {kubeconfig: /etc/kube.conf}\n");
	ck_assert_str_eq(cfg->kube.kubeconfig, "/etc/kube.conf");
	config_free(cfg);
	unsetenv("HOME");
	PARSE_BAD("kubernetes:\n  kubeconfig: ~/k\n",
	    "ferry.yml:2: kubernetes.kubeconfig: cannot expand ~: HOME is "
	    "not set");
}
END_TEST

/* YAML and types. */

START_TEST(yaml_syntax_error)
{
	PARSE_BAD("workers: 4\n"
	    "listen: :80\n"
	    "data_dir: [./var\n",
	    "ferry.yml:4:1: yaml: while parsing a flow sequence did not find "
	    "expected ',' or ']'");
	PARSE_BAD("workers: 4\n"
	    "  listen: :80\n",
	    "ferry.yml:2:9: yaml: mapping values are not allowed in this "
	    "context");
	PARSE_BAD("workers: 4\n"
	    "\tlisten: :80\n",
	    "ferry.yml:2:1: yaml: while scanning a plain scalar found a tab "
	    "character that violates indentation");
	PARSE_BAD("workers: 4\n---\nworkers: 5\n",
	    "ferry.yml:3: only one yaml document is allowed");
	PARSE_BAD("workers: *nothing\n",
	    "ferry.yml:1:10: yaml: found undefined alias");
}
END_TEST

START_TEST(type_errors)
{
	PARSE_BAD("data_dir: {path: ./var}\n",
	    "ferry.yml:1: data_dir: expected a string, not a mapping");
	PARSE_BAD("workers:\n  - 4\n",
	    "ferry.yml:2: workers: expected a number, not a list");
	PARSE_BAD("- workers: 4\n",
	    "ferry.yml:1: expected a mapping, not a list");
	PARSE_BAD("just text\n",
	    "ferry.yml:1: expected a mapping, not a string");
	PARSE_BAD("kubernetes: prod\n",
	    "ferry.yml:1: kubernetes: expected a mapping, not a string");
	PARSE_BAD("repos: {name: acme/shop}\n",
	    "ferry.yml:1: repos: expected a list, not a mapping");
	PARSE_BAD("repos:\n  - acme/shop\n",
	    "ferry.yml:2: repos[0]: expected a mapping, not a string");
	PARSE_BAD(REPO_YML "    secret2: x\n",
	    "ferry.yml:6: repos[0].secret2: unknown key");
	PARSE_BAD("repos:\n"
	    "  - name: {first: acme}\n",
	    "ferry.yml:2: repos[0].name: expected a string, not a mapping");
	PARSE_BAD(REPO_YML "    cancel_superseded: [true]\n",
	    "ferry.yml:6: repos[0].cancel_superseded: expected true or false, "
	    "not a list");
	PARSE_BAD("kubernetes: {egress: [null]}\n",
	    "ferry.yml:1: kubernetes.egress[0]: expected a string, not null");
	PARSE_BAD("api_tokens: [[env:X]]\n",
	    "ferry.yml:1: api_tokens[0]: expected env:NAME or file:PATH, "
	    "not a list");
	PARSE_BAD("? [a, b]\n: c\n",
	    "ferry.yml:1: keys must be strings, not a list");
	PARSE_BAD("data_dir: \"a\\0b\"\n",
	    "ferry.yml:1: data_dir: contains a NUL character");
}
END_TEST

/* Loading files. */

START_TEST(load_missing_file)
{
	struct config	*cfg = (struct config *)1;

	ck_assert_int_eq(config_load(&cfg, "/nonexistent/ferry.yml"),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err_msg(), "cannot open /nonexistent/ferry.yml: "
	    "No such file or directory");
}
END_TEST

START_TEST(load_too_big)
{
	struct config	*cfg = NULL;
	char		*dir, *path;
	FILE		*f;
	size_t		 i;

	dir = tmpdir_new();
	path = xasprintf("%s/big.yml", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	for (i = 0; i < 1024 * 1024 / 16 + 1; i++)
		fputs("# .............\n", f);	/* 16 bytes */
	fclose(f);
	ck_assert_int_eq(config_load(&cfg, path), ERR_INVALID);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err_msg(), "larger than 1 MiB"));
	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}
END_TEST

START_TEST(free_null)
{
	config_free(NULL);
}
END_TEST

static TCase *
tcase(const char *name, const TTest *t)
{
	TCase	*tc = tcase_create(name);

	tcase_add_checked_fixture(tc, env_setup, env_teardown);
	tcase_add_test(tc, t);
	return tc;
}

Suite *
test_suite(void)
{
	Suite	*s = suite_create("config");

	suite_add_tcase(s, tcase("full_example", full_example));
	suite_add_tcase(s, tcase("full_example_names_line_of_missing_env",
	    full_example_names_line_of_missing_env));
	suite_add_tcase(s, tcase("defaults_applied", defaults_applied));
	suite_add_tcase(s, tcase("defaults_empty_file_is_valid",
	    defaults_empty_file_is_valid));
	suite_add_tcase(s, tcase("defaults_null_means_unset",
	    defaults_null_means_unset));
	suite_add_tcase(s, tcase("extensions_parsed", extensions_parsed));
	suite_add_tcase(s, tcase("unknown_key_top", unknown_key_top));
	suite_add_tcase(s, tcase("unknown_key_nested", unknown_key_nested));
	suite_add_tcase(s, tcase("duplicate_key", duplicate_key));
	suite_add_tcase(s, tcase("bad_workers", bad_workers));
	suite_add_tcase(s, tcase("listen_forms", listen_forms));
	suite_add_tcase(s, tcase("bad_listen", bad_listen));
	suite_add_tcase(s, tcase("bad_max_body", bad_max_body));
	suite_add_tcase(s, tcase("bad_provider", bad_provider));
	suite_add_tcase(s, tcase("bad_executor", bad_executor));
	suite_add_tcase(s, tcase("bad_duration", bad_duration));
	suite_add_tcase(s, tcase("quantities", quantities));
	suite_add_tcase(s, tcase("bad_quantities", bad_quantities));
	suite_add_tcase(s, tcase("bad_repo_values", bad_repo_values));
	suite_add_tcase(s, tcase("repo_values_parsed", repo_values_parsed));
	suite_add_tcase(s, tcase("missing_required", missing_required));
	suite_add_tcase(s, tcase("duplicate_repo", duplicate_repo));
	suite_add_tcase(s, tcase("repo_lookup", repo_lookup));
	suite_add_tcase(s, tcase("secret_plain_refused",
	    secret_plain_refused));
	suite_add_tcase(s, tcase("secret_env", secret_env));
	suite_add_tcase(s, tcase("secret_file", secret_file));
	suite_add_tcase(s, tcase("secret_file_errors", secret_file_errors));
	suite_add_tcase(s, tcase("kubeconfig_home", kubeconfig_home));
	suite_add_tcase(s, tcase("yaml_syntax_error", yaml_syntax_error));
	suite_add_tcase(s, tcase("type_errors", type_errors));
	suite_add_tcase(s, tcase("load_missing_file", load_missing_file));
	suite_add_tcase(s, tcase("load_too_big", load_too_big));
	suite_add_tcase(s, tcase("free_null", free_null));
	return s;
}
