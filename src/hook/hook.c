/*
 * hook.c - what GitHub and GitLab have in common: signature and token
 * checks, the form-encoded GitHub body, the parsed body (struct
 * hook_doc) and the ignore rules of a push.
 *
 * DESIGN
 * Everything here runs on an HTTP thread for every delivery, before the
 * sender is known to be genuine, so nothing trusts the body: the
 * signature header is parsed strictly, the HMAC is compared in constant
 * time, JSON is scanned strictly (json.c) and stored strings are capped
 * and repaired to UTF-8. A body is scanned once: struct hook_doc keeps
 * its own copy of the text with the token array, so the repository name
 * is read before the signature check and the push after it, from the
 * same scan.
 */
#include "hook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "hook_int.h"
#include "util.h"

#define SHA256_LEN	32
#define SIG_PREFIX	"sha256="

void
push_free(struct push *p)
{
	if (p == NULL)
		return;
	free(p->repo);
	free(p->ref);
	free(p->branch);
	free(p->before);
	free(p->after);
	free(p->message);
	free(p->author);
	free(p->pusher);
	free(p->compare_url);
	free(p);
}

/* Exactly 64 hex digits (either case) and the end of the string. */
static int
sig_decode(unsigned char *out, const char *s)
{
	size_t	i;
	int	hi, lo;

	if (strnlen(s, 2 * SHA256_LEN + 1) != 2 * SHA256_LEN)
		return -1;
	for (i = 0; i < SHA256_LEN; i++) {
		hi = hex_digit((unsigned char)s[2 * i]);
		lo = hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* Decodes a well-formed "sha256=<64 hex>" header into want. */
static int
sig_parse(unsigned char want[SHA256_LEN], const char *sig_header)
{
	if (sig_header == NULL)
		return err_set(ERR_AUTH, "missing signature");
	if (strncmp(sig_header, SIG_PREFIX, strlen(SIG_PREFIX)) != 0 ||
	    sig_decode(want, sig_header + strlen(SIG_PREFIX)) != 0)
		return err_set(ERR_AUTH, "bad signature");
	return 0;
}

int
hook_github_sig_check(const char *sig_header)
{
	unsigned char	want[SHA256_LEN];

	return sig_parse(want, sig_header);
}

/*
 * HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256, fetched once. The
 * one-shot HMAC() looks the MAC and the digest up by name in OpenSSL 3's
 * provider store on every call, which cost as much as hashing the 7 KB
 * body itself; this is the same computation without the lookups
 * (checked against RFC 4231's vectors in test-hook).
 */
#define SHA256_BLOCK	64

static pthread_once_t	 sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD		*sha256_md;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int
hmac_sha256(unsigned char out[SHA256_LEN], const void *key, size_t klen,
    const void *msg, size_t len)
{
	unsigned char	 k[SHA256_BLOCK] = { 0 }, pad[SHA256_BLOCK];
	unsigned char	 inner[SHA256_LEN];
	EVP_MD_CTX	*ctx;
	size_t		 i;
	int		 ok;

	ASSERT(pthread_once(&sha256_once, sha256_fetch) == 0);
	if (sha256_md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	ok = 1;
	if (klen > SHA256_BLOCK)
		ok = EVP_Digest(key, klen, k, NULL, sha256_md, NULL);
	else if (klen > 0)
		memcpy(k, key, klen);
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	ok = ok && EVP_DigestInit_ex2(ctx, sha256_md, NULL) &&
	    EVP_DigestUpdate(ctx, pad, SHA256_BLOCK) &&
	    EVP_DigestUpdate(ctx, msg, len) &&
	    EVP_DigestFinal_ex(ctx, inner, NULL);
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	ok = ok && EVP_DigestInit_ex2(ctx, sha256_md, NULL) &&
	    EVP_DigestUpdate(ctx, pad, SHA256_BLOCK) &&
	    EVP_DigestUpdate(ctx, inner, SHA256_LEN) &&
	    EVP_DigestFinal_ex(ctx, out, NULL);
	EVP_MD_CTX_free(ctx);
	wipe(k, sizeof(k));
	wipe(pad, sizeof(pad));
	wipe(inner, sizeof(inner));
	return ok ? 0 : -1;
}

int
hook_github_verify(const char *secret, const char *sig_header,
    const char *body, size_t len)
{
	unsigned char	 want[SHA256_LEN], got[SHA256_LEN];
	int		 ok, rc;

	ASSERT(secret != NULL);
	ASSERT(body != NULL || len == 0);
	if ((rc = sig_parse(want, sig_header)) != 0)
		return rc;

	if (body == NULL)
		body = "";
	if (hmac_sha256(got, secret, strlen(secret), body, len) != 0) {
		wipe(got, sizeof(got));
		return err_set(ERR_FAIL, "cannot compute hmac-sha256");
	}
	ok = CRYPTO_memcmp(want, got, SHA256_LEN) == 0;
	wipe(got, sizeof(got));
	if (!ok)
		return err_set(ERR_AUTH, "bad signature");
	return 0;
}

int
hook_gitlab_verify(const char *secret, const char *token_header)
{
	ASSERT(secret != NULL);
	if (token_header == NULL)
		return err_set(ERR_AUTH, "missing token");
	if (!ct_streq(secret, token_header))
		return err_set(ERR_AUTH, "bad token");
	return 0;
}

/* application/x-www-form-urlencoded, any case, parameters allowed. */
static bool
is_form(const char *ct)
{
	static const char	form[] = "application/x-www-form-urlencoded";
	const size_t		n = sizeof(form) - 1;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, form, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' ||
	    ct[n] == '\t';
}

/* URL-decodes s[0..n) ('+' is a space) into a new NUL-terminated *out. */
static int
form_decode(char **out, size_t *len_out, const char *s, size_t n)
{
	char	*d;
	size_t	 i, j = 0;
	int	 hi, lo;

	d = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '+')
			d[j++] = ' ';
		else if (s[i] != '%')
			d[j++] = s[i];
		else {
			if (n - i < 3 ||
			    (hi = hex_digit((unsigned char)s[i + 1])) < 0 ||
			    (lo = hex_digit((unsigned char)s[i + 2])) < 0) {
				free(d);
				return err_set(ERR_INVALID,
				    "invalid percent escape in form body");
			}
			d[j++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	d[j] = '\0';
	*out = d;
	*len_out = j;
	return 0;
}

int
hook_github_body(char **out, size_t *len_out, const char *content_type,
    const char *body, size_t len)
{
	static const char	 key[] = "payload=";
	const size_t		 klen = sizeof(key) - 1;
	const char		*p, *end, *amp;
	char			*copy;

	ASSERT(out != NULL && len_out != NULL);
	ASSERT(body != NULL || len == 0);
	*out = NULL;
	*len_out = 0;
	if (!is_form(content_type)) {
		copy = xmalloc(len + 1);
		if (len > 0)
			memcpy(copy, body, len);
		copy[len] = '\0';
		*out = copy;
		*len_out = len;
		return 0;
	}

	p = body;
	end = body + len;
	while (p != NULL && p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		if ((size_t)(amp - p) >= klen && memcmp(p, key, klen) == 0)
			return form_decode(out, len_out, p + klen,
			    (size_t)(amp - p) - klen);
		p = amp + 1;
	}
	return err_set(ERR_INVALID, "form body has no payload field");
}

char *
hook_strcap(char *s, size_t max)
{
	char	*fixed;
	size_t	 n, cut;

	if ((fixed = utf8_fix(s)) != NULL) {
		free(s);
		s = fixed;
	}
	n = strnlen(s, max + 1);
	if (n <= max)
		return s;
	/*
	 * s[max] is the first byte dropped; if it continues a UTF-8
	 * sequence, drop that sequence's lead byte too (at most 3 back).
	 */
	cut = max;
	while (cut > 0 && max - cut < 3 &&
	    ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	if (((unsigned char)s[cut] & 0xc0) == 0x80)
		cut = max;	/* not UTF-8 anyway: cut where asked */
	s[cut] = '\0';
	return xrealloc(s, cut + 1);
}

bool
hook_sha_zero(const char *s)
{
	if (*s == '\0')
		return false;
	while (*s == '0')
		s++;
	return *s == '\0';
}

void
hook_push_set(char **field, char *s)
{
	free(*field);
	*field = s;
}

struct push *
hook_push_new(char *repo, char *ref, char *after)
{
	struct push	*p;

	p = xcalloc(1, sizeof(*p));
	p->repo = repo;
	p->ref = ref;
	p->after = after;
	p->before = xstrdup("");
	p->message = xstrdup("");
	p->author = xstrdup("");
	p->pusher = xstrdup("");
	if (strncmp(p->ref, "refs/heads/", 11) == 0)
		p->branch = xstrdup(p->ref + 11);
	p->tag = strncmp(p->ref, "refs/tags/", 10) == 0;
	p->deleted = hook_sha_zero(p->after);
	return p;
}

/* Case-insensitive search for an ASCII needle. */
static bool
contains_nocase(const char *hay, const char *needle)
{
	size_t	n = strlen(needle);

	for (; *hay != '\0'; hay++) {
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	}
	return false;
}

bool
hook_push_ignored(char *why_out, size_t whysz, const struct push *p,
    const char *branch)
{
	ASSERT(why_out != NULL && whysz > 0);
	ASSERT(p != NULL && branch != NULL);
	why_out[0] = '\0';
	/* The reason may be cut to fit whysz; it is always terminated. */
	if (p->tag)
		snprintf(why_out, whysz, "tag push");
	else if (p->deleted)
		snprintf(why_out, whysz, "branch deletion");
	else if (p->branch == NULL)
		snprintf(why_out, whysz, "ref %s is not a branch", p->ref);
	else if (strcmp(p->branch, branch) != 0)
		snprintf(why_out, whysz,
		    "branch %s is not the production branch %s", p->branch,
		    branch);
	else if (contains_nocase(p->message, "[skip ci]") ||
	    contains_nocase(p->message, "[ci skip]"))
		snprintf(why_out, whysz, "skip requested");
	else
		return false;
	return true;
}

struct hook_doc {
	const struct hook_provider	*prov;
	struct hook_json		 json;	/* tokens over the body */
	char				*repo;	/* capped copy */
};

void
hook_doc_free(struct hook_doc *d)
{
	if (d == NULL)
		return;
	hook_json_dispose(&d->json);
	free(d->repo);
	free(d);
}

/* Scans json in place and finds the repository name with prov. */
static int
doc_new(struct hook_doc **out, const struct hook_provider *prov,
    const char *json, size_t len)
{
	struct hook_doc		*d;
	const struct hook_jtok	*name;
	int			 rc;

	ASSERT(out != NULL);
	ASSERT(json != NULL || len == 0);
	*out = NULL;
	d = xmalloc(sizeof(*d));
	d->prov = prov;
	d->repo = NULL;
	if ((rc = hook_json_parse(&d->json, json, len)) != 0) {
		free(d);
		return rc;
	}
	if ((rc = prov->repo(&name, &d->json)) != 0) {
		hook_doc_free(d);
		return rc;
	}
	d->repo = hook_json_str(&d->json, name, HOOK_FIELD_MAX);
	*out = d;
	return 0;
}

int
hook_github_doc(struct hook_doc **out, const char *json, size_t len)
{
	return doc_new(out, &hook_github, json, len);
}

int
hook_gitlab_doc(struct hook_doc **out, const char *json, size_t len)
{
	return doc_new(out, &hook_gitlab, json, len);
}

const char *
hook_doc_repo(const struct hook_doc *d)
{
	return d->repo;
}

int
hook_doc_push(struct push **out, const struct hook_doc *d)
{
	ASSERT(out != NULL);
	*out = NULL;
	return d->prov->push(out, &d->json);
}

/* The one-shot forms scan the caller's text in place. */
static int
doc_repo(char **out, const struct hook_provider *prov, const char *json,
    size_t len)
{
	struct hook_json	 j;
	const struct hook_jtok	*name;
	int			 rc;

	ASSERT(out != NULL);
	*out = NULL;
	if ((rc = hook_json_parse(&j, json, len)) != 0)
		return rc;
	if ((rc = prov->repo(&name, &j)) == 0)
		*out = hook_json_str(&j, name, HOOK_FIELD_MAX);
	hook_json_dispose(&j);
	return rc;
}

static int
doc_push(struct push **out, const struct hook_provider *prov,
    const char *json, size_t len)
{
	struct hook_json	j;
	int			rc;

	ASSERT(out != NULL);
	*out = NULL;
	if ((rc = hook_json_parse(&j, json, len)) != 0)
		return rc;
	rc = prov->push(out, &j);
	hook_json_dispose(&j);
	return rc;
}

int
hook_github_repo(char **out, const char *json, size_t len)
{
	return doc_repo(out, &hook_github, json, len);
}

int
hook_gitlab_repo(char **out, const char *json, size_t len)
{
	return doc_repo(out, &hook_gitlab, json, len);
}

int
hook_github_parse(struct push **out, const char *json, size_t len)
{
	return doc_push(out, &hook_github, json, len);
}

int
hook_gitlab_parse(struct push **out, const char *json, size_t len)
{
	return doc_push(out, &hook_gitlab, json, len);
}
