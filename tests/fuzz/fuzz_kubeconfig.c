/*
 * fuzz_kubeconfig.c - a kubeconfig (YAML or JSON) through
 * kube_config_parse(), once for its current-context and once for a
 * context named "ferry". Parsing reads no files (paths are only
 * recorded), so any input is safe to try.
 */
#include "fuzz.h"

#include "err.h"
#include "kube.h"

static void
one(const uint8_t *data, size_t size, const char *context)
{
	struct kube_config	*c = NULL;
	int			 rc;

	rc = kube_config_parse(&c, "/nonexistent/kubeconfig",
	    (const char *)data, size, context);
	if (rc != 0) {
		FUZZ_CHECK(c == NULL);
		FUZZ_CHECK(rc == ERR_INVALID || rc == ERR_NOTFOUND);
		return;
	}
	FUZZ_CHECK(c != NULL && c->server != NULL);
	FUZZ_CHECK(c->ca_data != NULL || c->ca_len == 0);
	FUZZ_CHECK(c->key_data != NULL || c->key_len == 0);
	kube_config_free(c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one(data, size, NULL);
	one(data, size, "ferry");
	return 0;
}
