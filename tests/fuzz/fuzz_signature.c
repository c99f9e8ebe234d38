/*
 * fuzz_signature.c - the X-Hub-Signature-256 and X-Gitlab-Token checks.
 * The input is "HEADER\nBODY" (no newline: all header, empty body).
 * Besides not crashing, verification must agree with an HMAC computed
 * here: the header is accepted exactly when it is "sha256=" and the 64
 * hex digits (either case) of HMAC-SHA256(secret, body), and the
 * correct header is always accepted.
 */
#include "fuzz.h"

#include <ctype.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "err.h"
#include "hook.h"

#define SECRET	"It's a Secret to Everybody"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t	*nl;
	const char	*body;
	char		*hdr, good[7 + 64 + 1];
	unsigned char	 mac[EVP_MAX_MD_SIZE];
	unsigned int	 maclen = 0;
	size_t		 hlen, blen;
	int		 rc, rc2, want;

	nl = memchr(data, '\n', size);
	hlen = nl != NULL ? (size_t)(nl - data) : size;
	body = nl != NULL ? (const char *)nl + 1 : "";
	blen = nl != NULL ? size - hlen - 1 : 0;
	/* Headers arrive as C strings: an embedded NUL ends them. */
	hdr = fuzz_strndup(data, hlen);

	FUZZ_CHECK(HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET),
	    (const unsigned char *)body, blen, mac, &maclen) != NULL);
	FUZZ_CHECK(maclen == 32);
	memcpy(good, "sha256=", 7);
	hex_encode(good + 7, mac, 32);
	want = strlen(hdr) == 71 && strncmp(hdr, "sha256=", 7) == 0 &&
	    strcasecmp(hdr + 7, good + 7) == 0;

	rc = hook_github_sig_check(hdr);
	FUZZ_CHECK(rc == 0 || rc == ERR_AUTH);
	rc2 = hook_github_verify(SECRET, hdr, body, blen);
	FUZZ_CHECK(rc2 == 0 || rc2 == ERR_AUTH);
	FUZZ_CHECK((rc2 == 0) == want);
	if (rc != 0)
		FUZZ_CHECK(rc2 != 0);
	FUZZ_CHECK(hook_github_verify(SECRET, good, body, blen) == 0);
	FUZZ_CHECK(hook_github_verify(SECRET, NULL, body, blen) == ERR_AUTH);

	rc = hook_gitlab_verify(SECRET, hdr);
	FUZZ_CHECK((rc == 0) == (strcmp(hdr, SECRET) == 0));
	rc = hook_gitlab_verify(hdr, SECRET);
	FUZZ_CHECK((rc == 0) == (strcmp(hdr, SECRET) == 0));
	free(hdr);
	return 0;
}
