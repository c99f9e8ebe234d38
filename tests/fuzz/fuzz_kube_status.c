/*
 * fuzz_kube_status.c - an API server's error answer through
 * kube_status_parse(): the first two bytes pick the HTTP status
 * (0..599), the rest is the body (a Status object, or anything a proxy
 * in front of the API server might send). reason and message must stay
 * terminated within their arrays. The body is also tried as a
 * Retry-After header value.
 */
#include "fuzz.h"

#include "kube.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kube_status	st;
	long			code;
	char			*hdr;
	int64_t			 ms;

	if (size < 2)
		return 0;
	code = (long)((data[0] << 8 | data[1]) % 600);
	memset(&st, 0xa5, sizeof(st));
	kube_status_parse(&st, code, (const char *)data + 2, size - 2);
	FUZZ_CHECK(memchr(st.reason, '\0', sizeof(st.reason)) != NULL);
	FUZZ_CHECK(memchr(st.message, '\0', sizeof(st.message)) != NULL);
	FUZZ_CHECK(st.code >= 0);

	hdr = fuzz_strndup(data + 2, size - 2);
	ms = kube_retry_after_parse(hdr);
	FUZZ_CHECK(ms == -1 || (ms >= 0 && ms <= 24 * 3600 * 1000LL));
	free(hdr);
	return 0;
}
