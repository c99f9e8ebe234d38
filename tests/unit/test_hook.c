/*
 * Unit tests of src/hook/: HMAC-SHA256 against RFC 4231 and GitHub's own
 * example, header edge cases, GitLab tokens, form bodies, parsing of the
 * payloads in tests/data/hook/ and the ignore rules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hook.h"
#include "util.h"

#define DATA	TEST_DATA_DIR "/hook/"

static char *
load(const char *name, size_t *len_out)
{
	char	 path[512];
	char	*s = NULL;
	size_t	 len = 0;
	int	 n;

	n = snprintf(path, sizeof(path), "%s%s", DATA, name);
	ck_assert(n > 0 && (size_t)n < sizeof(path));
	ck_assert_msg(file_read(&s, &len, path, 1 << 20) == 0, "%s: %s",
	    path, err_msg());
	if (len_out != NULL)
		*len_out = len;
	return s;
}

static int
gh_parse(struct push **out, const char *json)
{
	return hook_github_parse(out, json, strlen(json));
}

static int
gl_parse(struct push **out, const char *json)
{
	return hook_gitlab_parse(out, json, strlen(json));
}

/* "sha256=" + hex, with one bit of the last digit flipped if asked. */
static void
sig_format(char *out, size_t outsz, const char *hex, int flip)
{
	size_t	n;

	ck_assert_int_lt(snprintf(out, outsz, "sha256=%s", hex), (int)outsz);
	if (flip) {
		n = strlen(out);
		out[n - 1] = out[n - 1] == '0' ? '1' : '0';
	}
}

/* RFC 4231 section 4: test cases 1-4, 6 and 7 (5 is truncated). */
struct rfc_case {
	unsigned char	 key[131];
	size_t		 keylen;
	unsigned char	 data[160];
	size_t		 datalen;
	const char	*mac;
};

static void
rfc_cases(struct rfc_case *c)
{
	static const char	t6[] =
	    "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char	t7[] =
	    "This is a test using a larger than block-size key and a larger "
	    "than block-size data. The key needs to be hashed before being "
	    "used by the HMAC algorithm.";
	size_t			i;

	memset(c, 0, 6 * sizeof(*c));
	memset(c[0].key, 0x0b, 20);
	c[0].keylen = 20;
	memcpy(c[0].data, "Hi There", 8);
	c[0].datalen = 8;
	c[0].mac = "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7";

	memcpy(c[1].key, "Jefe", 4);
	c[1].keylen = 4;
	memcpy(c[1].data, "what do ya want for nothing?", 28);
	c[1].datalen = 28;
	c[1].mac = "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843";

	memset(c[2].key, 0xaa, 20);
	c[2].keylen = 20;
	memset(c[2].data, 0xdd, 50);
	c[2].datalen = 50;
	c[2].mac = "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe";

	for (i = 0; i < 25; i++)
		c[3].key[i] = (unsigned char)(i + 1);
	c[3].keylen = 25;
	memset(c[3].data, 0xcd, 50);
	c[3].datalen = 50;
	c[3].mac = "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b";

	memset(c[4].key, 0xaa, 131);
	c[4].keylen = 131;
	memcpy(c[4].data, t6, sizeof(t6) - 1);
	c[4].datalen = sizeof(t6) - 1;
	c[4].mac = "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54";

	memset(c[5].key, 0xaa, 131);
	c[5].keylen = 131;
	ck_assert_uint_le(sizeof(t7) - 1, sizeof(c[5].data));
	memcpy(c[5].data, t7, sizeof(t7) - 1);
	c[5].datalen = sizeof(t7) - 1;
	c[5].mac = "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2";
}

START_TEST(github_verify_rfc4231)
{
	struct rfc_case	 c[6];
	char		 key[132], sig[80];
	int		 i;

	rfc_cases(c);
	for (i = 0; i < 6; i++) {
		memcpy(key, c[i].key, c[i].keylen);
		key[c[i].keylen] = '\0';
		sig_format(sig, sizeof(sig), c[i].mac, 0);
		ck_assert_msg(hook_github_verify(key, sig,
		    (const char *)c[i].data, c[i].datalen) == 0,
		    "case %d: %s", i, err_msg());
		sig_format(sig, sizeof(sig), c[i].mac, 1);
		ck_assert_int_eq(hook_github_verify(key, sig,
		    (const char *)c[i].data, c[i].datalen), ERR_AUTH);
		ck_assert_str_eq(err_msg(), "bad signature");
		/* One byte less of body: another MAC. */
		sig_format(sig, sizeof(sig), c[i].mac, 0);
		ck_assert_int_eq(hook_github_verify(key, sig,
		    (const char *)c[i].data, c[i].datalen - 1), ERR_AUTH);
	}
}
END_TEST

#define GH_SECRET	"It's a Secret to Everybody"
#define GH_BODY		"Hello, World!"
#define GH_HEX		"757107ea0eb2509fc211221cce984b8a" \
			"37570b6d7586c22c46f4379c8b043e17"

START_TEST(github_verify_documented_example)
{
	ck_assert_int_eq(hook_github_verify(GH_SECRET, "sha256=" GH_HEX,
	    GH_BODY, strlen(GH_BODY)), 0);
	/* Another secret, or another body, fails. */
	ck_assert_int_eq(hook_github_verify("It's a secret to everybody",
	    "sha256=" GH_HEX, GH_BODY, strlen(GH_BODY)), ERR_AUTH);
	ck_assert_int_eq(hook_github_verify(GH_SECRET, "sha256=" GH_HEX,
	    "Hello, World?", 13), ERR_AUTH);
}
END_TEST

START_TEST(github_verify_header_forms)
{
	static const char *const	bad[] = {
		"",
		"sha256=",
		"sha1=01bc6ee0f1b6fbcca34ea0a1e3df2eb6f5fe6da9",
		"sha1=" GH_HEX,
		"SHA256=" GH_HEX,
		"sha256:" GH_HEX,
		" sha256=" GH_HEX,
		"sha256=" GH_HEX " ",
		"sha256= " GH_HEX,
		"sha256=" GH_HEX "\n",
		"sha256=" GH_HEX "0",
		"sha256=757107ea0eb2509fc211221cce984b8a"
		    "37570b6d7586c22c46f4379c8b043e1",
		"sha256=757107ea0eb2509fc211221cce984b8a"
		    "37570b6d7586c22c46f4379c8b043e1g",
		"sha256=0x7107ea0eb2509fc211221cce984b8a"
		    "37570b6d7586c22c46f4379c8b043e17",
		"sha256=" GH_HEX ",sha256=" GH_HEX,
	};
	size_t				 len = strlen(GH_BODY), i;

	/* Upper case hex is accepted. */
	ck_assert_int_eq(hook_github_verify(GH_SECRET,
	    "sha256=757107EA0EB2509FC211221CCE984B8A"
	    "37570B6D7586C22C46F4379C8B043E17", GH_BODY, len), 0);

	ck_assert_int_eq(hook_github_verify(GH_SECRET, NULL, GH_BODY, len),
	    ERR_AUTH);
	ck_assert_str_eq(err_msg(), "missing signature");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err_clear();
		ck_assert_msg(hook_github_verify(GH_SECRET, bad[i], GH_BODY,
		    len) == ERR_AUTH, "accepted \"%s\"", bad[i]);
		ck_assert_str_eq(err_msg(), "bad signature");
	}
}
END_TEST

START_TEST(github_verify_raw_bytes)
{
	/* The MAC covers len bytes, NULs included (Python hmac). */
	ck_assert_int_eq(hook_github_verify("k",
	    "sha256=982872ff8422d2d84de2d26d7900850f"
	    "f9f3b3275079b02813b572f9ff0ef0b2", "a\0b", 3), 0);
	ck_assert_int_eq(hook_github_verify("k",
	    "sha256=982872ff8422d2d84de2d26d7900850f"
	    "f9f3b3275079b02813b572f9ff0ef0b2", "a", 1), ERR_AUTH);
	/* An empty key and body still compute (RFC 2104 zero-pads). */
	ck_assert_int_eq(hook_github_verify("",
	    "sha256=b613679a0814d9ec772f95d778c35fc5"
	    "ff1697c493715653c6c712144292c5ad", NULL, 0), 0);
}
END_TEST

START_TEST(github_verify_form_body_is_raw)
{
	char	*form, *json;
	size_t	 flen, jlen;
	/* HMAC-SHA256("shh", github_push_form.txt), computed with Python. */
	const char	*sig = "sha256=207f9308257a48c57abe9368c317c719"
	    "0ac4b8940db5d7db32fb09657b75103a";

	form = load("github_push_form.txt", &flen);
	ck_assert_int_eq(hook_github_verify("shh", sig, form, flen), 0);
	ck_assert_int_eq(hook_github_body(&json, &jlen,
	    "application/x-www-form-urlencoded", form, flen), 0);
	ck_assert_int_eq(hook_github_verify("shh", sig, json, jlen),
	    ERR_AUTH);
	free(json);
	free(form);
}
END_TEST

START_TEST(gitlab_verify_token)
{
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", "s3cret-token"), 0);
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", NULL), ERR_AUTH);
	ck_assert_str_eq(err_msg(), "missing token");
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", "s3cret-tokeN"),
	    ERR_AUTH);
	ck_assert_str_eq(err_msg(), "bad token");
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", "s3cret-toke"),
	    ERR_AUTH);
	ck_assert_str_eq(err_msg(), "bad token");
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", "s3cret-token "),
	    ERR_AUTH);
	ck_assert_int_eq(hook_gitlab_verify("s3cret-token", ""), ERR_AUTH);
	ck_assert_str_eq(err_msg(), "bad token");
}
END_TEST

START_TEST(github_body_json_copied)
{
	char	*out;
	size_t	 len;

	ck_assert_int_eq(hook_github_body(&out, &len, "application/json",
	    "{\"a\":1}", 7), 0);
	ck_assert_uint_eq(len, 7);
	ck_assert_str_eq(out, "{\"a\":1}");
	free(out);
	ck_assert_int_eq(hook_github_body(&out, &len, NULL, "x\0y", 3), 0);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(out, "x\0y", 4), 0);
	free(out);
	/* Not the form type, only a name that starts like it. */
	ck_assert_int_eq(hook_github_body(&out, &len,
	    "application/x-www-form-urlencodedx", "payload=%7B%7D", 14), 0);
	ck_assert_str_eq(out, "payload=%7B%7D");
	free(out);
}
END_TEST

START_TEST(github_body_form_file)
{
	char	*form, *json, *want;
	size_t	 flen, jlen, wlen;

	form = load("github_push_form.txt", &flen);
	want = load("github_push.json", &wlen);
	ck_assert_int_eq(hook_github_body(&json, &jlen,
	    "application/x-www-form-urlencoded", form, flen), 0);
	ck_assert_uint_eq(jlen, wlen);
	ck_assert_int_eq(memcmp(json, want, wlen), 0);
	ck_assert_int_eq(json[jlen], '\0');
	free(json);
	free(form);
	free(want);
}
END_TEST

START_TEST(github_body_form_decoding)
{
	static const char	body[] =
	    "a=1&payloadx=2&payload=%7B%22x%22%3A+%22a+b%26c%2b%25%22%7d&z=3";
	char			*out;
	size_t			 len;

	ck_assert_int_eq(hook_github_body(&out, &len,
	    "Application/X-WWW-Form-URLEncoded; charset=utf-8", body,
	    sizeof(body) - 1), 0);
	ck_assert_str_eq(out, "{\"x\": \"a b&c+%\"}");
	ck_assert_uint_eq(len, strlen(out));
	free(out);

	/* Only len bytes count; an empty payload is empty. */
	ck_assert_int_eq(hook_github_body(&out, &len,
	    "application/x-www-form-urlencoded", "payload=&payload=x", 8), 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(len, 0);
	free(out);
}
END_TEST

START_TEST(github_body_form_errors)
{
	static const char *const	nopayload[] = {
		"", "a=1", "payload", "payloadx=1&b=2", "PAYLOAD=%7B%7D",
		"a=1&&b=2&", "xpayload=1",
	};
	static const char *const	badesc[] = {
		"payload=%", "payload=%7", "payload=%zz", "payload=%7g",
		"a=1&payload=%7B%2",
	};
	char				*out = (char *)"untouched";
	size_t				 len, i;

	for (i = 0; i < sizeof(nopayload) / sizeof(nopayload[0]); i++) {
		ck_assert_int_eq(hook_github_body(&out, &len,
		    "application/x-www-form-urlencoded", nopayload[i],
		    strlen(nopayload[i])), ERR_INVALID);
		ck_assert_str_eq(err_msg(), "form body has no payload field");
		ck_assert_ptr_null(out);
	}
	for (i = 0; i < sizeof(badesc) / sizeof(badesc[0]); i++) {
		ck_assert_msg(hook_github_body(&out, &len,
		    "application/x-www-form-urlencoded", badesc[i],
		    strlen(badesc[i])) == ERR_INVALID, "%s", badesc[i]);
		ck_assert_ptr_null(out);
	}
}
END_TEST

START_TEST(github_parse_push)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("github_push.json", &len);
	ck_assert_int_eq(hook_github_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/heads/master");
	ck_assert_str_eq(p->branch, "master");
	ck_assert_str_eq(p->before, "6113728f27ae82c7b1a177c8d03f9e96e0adf246");
	ck_assert_str_eq(p->after, "9f1c3ab7e2d84f6c0b5a1e9d7c3f2b8a6e4d0c1f");
	ck_assert_str_eq(p->message,
	    "Merge pull request #128 from acme/fix-cart\n\n"
	    "Fix cart total rounding");
	ck_assert_str_eq(p->author, "Jane Doe");
	ck_assert_str_eq(p->pusher, "janedoe");
	ck_assert_str_eq(p->compare_url, "https://github.com/acme/shop/"
	    "compare/6113728f27ae...9f1c3ab7e2d8");
	ck_assert(!p->tag);
	ck_assert(!p->deleted);
	push_free(p);
	free(json);
}
END_TEST

START_TEST(github_parse_form_push)
{
	struct push	*p;
	char		*form, *json;
	size_t		 flen, jlen;

	form = load("github_push_form.txt", &flen);
	ck_assert_int_eq(hook_github_body(&json, &jlen,
	    "application/x-www-form-urlencoded", form, flen), 0);
	ck_assert_int_eq(hook_github_parse(&p, json, jlen), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->branch, "master");
	ck_assert_str_eq(p->after, "9f1c3ab7e2d84f6c0b5a1e9d7c3f2b8a6e4d0c1f");
	ck_assert_str_eq(p->author, "Jane Doe");
	push_free(p);
	free(json);
	free(form);
}
END_TEST

START_TEST(github_parse_tag)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("github_tag.json", &len);
	ck_assert_int_eq(hook_github_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/tags/v1.4.0");
	ck_assert_ptr_null(p->branch);
	ck_assert(p->tag);
	ck_assert(!p->deleted);
	ck_assert_str_eq(p->before, "0000000000000000000000000000000000000000");
	ck_assert_str_eq(p->after, "b3d9e7a1c5f2048d6e8a0c2b4f6d8e0a2c4b6d8f");
	ck_assert_str_eq(p->message,
	    "Merge pull request #128 from acme/fix-cart\n\n"
	    "Fix cart total rounding");
	ck_assert_str_eq(p->author, "Jane Doe");
	ck_assert_str_eq(p->pusher, "janedoe");
	ck_assert_str_eq(p->compare_url,
	    "https://github.com/acme/shop/compare/v1.4.0");
	push_free(p);
	free(json);
}
END_TEST

START_TEST(github_parse_delete)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("github_delete.json", &len);
	ck_assert_int_eq(hook_github_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/heads/fix-cart");
	ck_assert_str_eq(p->branch, "fix-cart");
	ck_assert(p->deleted);
	ck_assert(!p->tag);
	ck_assert_str_eq(p->before, "4e2a9c1b7d3f5e6a8b0c2d4e6f8a0b1c3d5e7f90");
	ck_assert_str_eq(p->after, "0000000000000000000000000000000000000000");
	ck_assert_str_eq(p->message, "");
	ck_assert_str_eq(p->author, "");
	ck_assert_str_eq(p->pusher, "janedoe");
	ck_assert_str_eq(p->compare_url, "https://github.com/acme/shop/"
	    "compare/4e2a9c1b7d3f...000000000000");
	push_free(p);
	free(json);
}
END_TEST

START_TEST(github_parse_ping)
{
	struct push	*p = (struct push *)1;
	char		*json, *repo;
	size_t		 len;

	json = load("github_ping.json", &len);
	ck_assert_int_eq(hook_github_parse(&p, json, len), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
	ck_assert_ptr_null(p);
	ck_assert_int_eq(hook_github_repo(&repo, json, len), 0);
	ck_assert_str_eq(repo, "acme/shop");
	free(repo);
	free(json);
}
END_TEST

START_TEST(github_parse_minimal)
{
	struct push	*p;

	/* Only the required fields: every other string is "". */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/main\","
	    "\"after\":\"abc\",\"repository\":{\"full_name\":\"o/r\"}}"), 0);
	ck_assert_str_eq(p->repo, "o/r");
	ck_assert_str_eq(p->branch, "main");
	ck_assert_str_eq(p->after, "abc");
	ck_assert_str_eq(p->before, "");
	ck_assert_str_eq(p->message, "");
	ck_assert_str_eq(p->author, "");
	ck_assert_str_eq(p->pusher, "");
	ck_assert_ptr_null(p->compare_url);
	ck_assert(!p->deleted && !p->tag);
	push_free(p);

	/* head_commit null: the last of commits[]; sender.login pushes. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/main\","
	    "\"after\":\"b\",\"repository\":{\"full_name\":\"o/r\"},"
	    "\"head_commit\":null,\"commits\":[{\"id\":\"a\",\"message\":"
	    "\"first\",\"author\":{\"name\":\"A\"}},{\"id\":\"b\","
	    "\"message\":\"second\",\"author\":{\"name\":\"B\"}}],"
	    "\"sender\":{\"login\":\"bot\"},\"deleted\":null}"), 0);
	ck_assert_str_eq(p->message, "second");
	ck_assert_str_eq(p->author, "B");
	ck_assert_str_eq(p->pusher, "bot");
	push_free(p);

	/* after all zeros is a deletion even if "deleted" says no. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/x\",\"after\":"
	    "\"0000000000000000000000000000000000000000\",\"deleted\":false,"
	    "\"repository\":{\"full_name\":\"o/r\"}}"), 0);
	ck_assert(p->deleted);
	push_free(p);

	/* A ref that is neither branch nor tag. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/notes/commits\","
	    "\"after\":\"b\",\"repository\":{\"full_name\":\"o/r\"}}"), 0);
	ck_assert_ptr_null(p->branch);
	ck_assert(!p->tag);
	push_free(p);
}
END_TEST

START_TEST(github_parse_missing_fields)
{
	static const struct {
		const char	*json;
		const char	*msg;
	} cases[] = {
		{ "{\"after\":\"b\",\"repository\":{\"full_name\":\"o/r\"}}",
		    "missing field ref" },
		{ "{\"ref\":\"refs/heads/m\",\"repository\":"
		    "{\"full_name\":\"o/r\"}}", "missing field after" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\"}",
		    "missing field repository.full_name" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\","
		    "\"repository\":{\"name\":\"r\"}}",
		    "missing field repository.full_name" },
		{ "{\"ref\":1,\"after\":\"b\",\"repository\":"
		    "{\"full_name\":\"o/r\"}}", "field ref must be a string" },
		{ "{\"ref\":null,\"after\":\"b\",\"repository\":"
		    "{\"full_name\":\"o/r\"}}", "field ref must be a string" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":[],\"repository\":"
		    "{\"full_name\":\"o/r\"}}",
		    "field after must be a string" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\","
		    "\"repository\":\"o/r\"}",
		    "field repository must be an object" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\","
		    "\"repository\":{\"full_name\":7}}",
		    "field repository.full_name must be a string" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\","
		    "\"repository\":{\"full_name\":\"o/r\"},"
		    "\"head_commit\":{\"message\":5}}",
		    "field head_commit.message must be a string" },
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\","
		    "\"repository\":{\"full_name\":\"o/r\"},"
		    "\"deleted\":\"yes\"}", "field deleted must be a boolean" },
	};
	struct push	*p;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = (struct push *)1;
		ck_assert_int_eq(gh_parse(&p, cases[i].json), ERR_INVALID);
		ck_assert_str_eq(err_msg(), cases[i].msg);
		ck_assert_ptr_null(p);
	}
}
END_TEST

START_TEST(parse_not_object)
{
	static const char *const	roots[] = {
		"[]", "[{\"ref\":\"refs/heads/m\"}]", "\"x\"", "42", "null",
		"true",
	};
	struct push			*p;
	char				*repo;
	size_t				 i;

	for (i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
		ck_assert_int_eq(gh_parse(&p, roots[i]), ERR_INVALID);
		ck_assert_str_eq(err_msg(), "payload is not a JSON object");
		ck_assert_int_eq(gl_parse(&p, roots[i]), ERR_INVALID);
		ck_assert_str_eq(err_msg(), "payload is not a JSON object");
		ck_assert_int_eq(hook_github_repo(&repo, roots[i],
		    strlen(roots[i])), ERR_INVALID);
		ck_assert_ptr_null(repo);
	}
}
END_TEST

START_TEST(parse_malformed)
{
	static const struct {
		const char	*s;
		size_t		 len;
	} bad[] = {
		{ "", 0 },
		{ "{", 1 },
		{ "{\"ref\":}", 8 },
		{ "{\"ref\":\"x\"", 10 },
		{ "{} x", 4 },
		{ "{}{}", 4 },
		{ "{}\0{}", 5 },
		{ "{}\0", 3 },
		{ "{\"a\":\"b\0c\"}", 11 },
		{ "\0{}", 3 },
		{ "{'ref':'x'}", 11 },
		{ "{\"a\":1,}", 8 },
	};
	struct push	*p;
	char		*repo;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(hook_github_parse(&p, bad[i].s, bad[i].len) ==
		    ERR_INVALID, "case %zu", i);
		ck_assert_str_eq(err_msg(), "malformed JSON");
		ck_assert_int_eq(hook_gitlab_parse(&p, bad[i].s, bad[i].len),
		    ERR_INVALID);
		ck_assert_int_eq(hook_github_repo(&repo, bad[i].s,
		    bad[i].len), ERR_INVALID);
		ck_assert_int_eq(hook_gitlab_repo(&repo, bad[i].s,
		    bad[i].len), ERR_INVALID);
	}
	/* Whitespace after the object is fine. */
	ck_assert_int_eq(gh_parse(&p, " {\"ref\":\"refs/heads/m\",\"after\":"
	    "\"b\",\"repository\":{\"full_name\":\"o/r\"}} \r\n\t"), 0);
	push_free(p);
}
END_TEST

START_TEST(parse_deep_nesting)
{
	const size_t	 n = 100000;
	struct push	*p;
	char		*s, *repo;
	size_t		 i;

	s = xmalloc(6 * n + 1);
	memset(s, '[', n);
	ck_assert_int_eq(hook_github_parse(&p, s, n), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	ck_assert_int_eq(hook_gitlab_parse(&p, s, n), ERR_INVALID);
	ck_assert_int_eq(hook_github_repo(&repo, s, n), ERR_INVALID);
	/* Balanced, too: valid JSON, but deeper than cJSON allows. */
	memset(s + n, ']', n);
	ck_assert_int_eq(hook_github_parse(&p, s, 2 * n), ERR_INVALID);
	for (i = 0; i < n; i++)
		memcpy(s + 5 * i, "{\"a\":", 5);
	ck_assert_int_eq(hook_github_parse(&p, s, 5 * n), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	free(s);
}
END_TEST

START_TEST(parse_nul_escape)
{
	struct push	*p;

	/* "refs/heads/master\u0000x" must not become master. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/master"
	    "\\u0000x\",\"after\":\"b\",\"repository\":"
	    "{\"full_name\":\"o/r\"}}"), ERR_INVALID);
	ck_assert_int_eq(gl_parse(&p, "{\"object_kind\":\"push\",\"ref\":"
	    "\"refs/heads/master\\u0000x\",\"after\":\"b\",\"project\":"
	    "{\"path_with_namespace\":\"o/r\"}}"), ERR_INVALID);
	/* An escaped backslash followed by "u0000" is just text. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/m\",\"after\":"
	    "\"b\",\"repository\":{\"full_name\":\"o/r\"},\"head_commit\":"
	    "{\"message\":\"C:\\\\u0000\"}}"), 0);
	ck_assert_str_eq(p->message, "C:\\u0000");
	push_free(p);
	/*
	 * Other escapes and control characters are kept as given; bytes
	 * that are not UTF-8 become U+FFFD (the API must return valid JSON).
	 */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/m\",\"after\":"
	    "\"b\",\"repository\":{\"full_name\":\"o/r\"},\"head_commit\":"
	    "{\"message\":\"a\\u0001\\n\xff\xfe\\u00e9\"}}"), 0);
	ck_assert_str_eq(p->message,
	    "a\001\n\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9");
	push_free(p);
}
END_TEST

START_TEST(parse_caps)
{
	struct push	*p;
	char		*json, *msg, *name;
	size_t		 i;

	msg = xmalloc(70001);
	memset(msg, 'm', 70000);
	msg[70000] = '\0';
	/* 1023 ASCII bytes, then a 2-byte é straddling the 1 KiB cap. */
	name = xmalloc(2001);
	memset(name, 'n', 2000);
	name[1023] = '\xc3';
	name[1024] = '\xa9';
	name[2000] = '\0';
	json = xasprintf("{\"ref\":\"refs/heads/m\",\"after\":\"b\","
	    "\"repository\":{\"full_name\":\"o/r\"},\"head_commit\":"
	    "{\"message\":\"%s\",\"author\":{\"name\":\"%s\"}},"
	    "\"pusher\":{\"name\":\"%s\"}}", msg, name, name + 1000);
	ck_assert_int_eq(gh_parse(&p, json), 0);
	ck_assert_uint_eq(strlen(p->message), 64 * 1024);
	ck_assert_uint_eq(strlen(p->author), 1023);
	for (i = 0; i < 1023; i++)
		ck_assert_int_eq(p->author[i], 'n');
	/* 1000 bytes fit whole. */
	ck_assert_uint_eq(strlen(p->pusher), 1000);
	push_free(p);
	free(json);
	free(msg);
	free(name);
}
END_TEST

START_TEST(repo_names)
{
	char	*json, *repo;
	size_t	 len;

	json = load("github_push.json", &len);
	ck_assert_int_eq(hook_github_repo(&repo, json, len), 0);
	ck_assert_str_eq(repo, "acme/shop");
	free(repo);
	/* The GitHub field is not GitLab's. */
	ck_assert_int_eq(hook_gitlab_repo(&repo, json, len), ERR_INVALID);
	ck_assert_str_eq(err_msg(),
	    "missing field project.path_with_namespace");
	ck_assert_ptr_null(repo);
	free(json);

	json = load("gitlab_push.json", &len);
	ck_assert_int_eq(hook_gitlab_repo(&repo, json, len), 0);
	ck_assert_str_eq(repo, "acme/shop");
	free(repo);
	ck_assert_int_eq(hook_github_repo(&repo, json, len), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field repository.full_name");
	free(json);

	ck_assert_int_eq(hook_github_repo(&repo, "{\"repository\":"
	    "{\"full_name\":null}}", 33), ERR_INVALID);
	ck_assert_str_eq(err_msg(),
	    "field repository.full_name must be a string");
	ck_assert_int_eq(hook_gitlab_repo(&repo, "{\"project\":[]}", 14),
	    ERR_INVALID);
	ck_assert_str_eq(err_msg(), "field project must be an object");
}
END_TEST

START_TEST(gitlab_parse_push)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("gitlab_push.json", &len);
	ck_assert_int_eq(hook_gitlab_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/heads/master");
	ck_assert_str_eq(p->branch, "master");
	ck_assert_str_eq(p->before, "95790bf891e76fee5e1747ab589903a6a1f80f22");
	ck_assert_str_eq(p->after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
	ck_assert_str_eq(p->message, "Fix cart total rounding\n");
	ck_assert_str_eq(p->author, "Jane Doe");
	ck_assert_str_eq(p->pusher, "jdoe");
	ck_assert_str_eq(p->compare_url,
	    "https://gitlab.acme.example/acme/shop/-/compare/"
	    "95790bf891e76fee5e1747ab589903a6a1f80f22..."
	    "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
	ck_assert(!p->tag);
	ck_assert(!p->deleted);
	push_free(p);
	free(json);
}
END_TEST

START_TEST(gitlab_parse_tag)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("gitlab_tag.json", &len);
	ck_assert_int_eq(hook_gitlab_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/tags/v1.0.0");
	ck_assert_ptr_null(p->branch);
	ck_assert(p->tag);
	ck_assert(!p->deleted);
	/* checkout_sha (the commit), not after (the tag object). */
	ck_assert_str_eq(p->after, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7");
	ck_assert_str_eq(p->before, "0000000000000000000000000000000000000000");
	ck_assert_str_eq(p->message, "");
	ck_assert_str_eq(p->author, "");
	ck_assert_str_eq(p->pusher, "jdoe");
	ck_assert_ptr_null(p->compare_url);
	push_free(p);
	free(json);
}
END_TEST

START_TEST(gitlab_parse_delete)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load("gitlab_delete.json", &len);
	ck_assert_int_eq(hook_gitlab_parse(&p, json, len), 0);
	ck_assert_str_eq(p->repo, "acme/shop");
	ck_assert_str_eq(p->ref, "refs/heads/fix-cart");
	ck_assert_str_eq(p->branch, "fix-cart");
	ck_assert(p->deleted);
	ck_assert(!p->tag);
	ck_assert_str_eq(p->after, "0000000000000000000000000000000000000000");
	ck_assert_str_eq(p->before, "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327");
	ck_assert_str_eq(p->message, "");
	ck_assert_str_eq(p->author, "");
	ck_assert_str_eq(p->pusher, "jdoe");
	ck_assert_ptr_null(p->compare_url);
	push_free(p);
	free(json);
}
END_TEST

START_TEST(gitlab_parse_head_commit)
{
	struct push	*p;

	/* The commit whose id is checkout_sha, wherever it is. */
	ck_assert_int_eq(gl_parse(&p, "{\"object_kind\":\"push\",\"ref\":"
	    "\"refs/heads/main\",\"before\":\"a\",\"after\":\"x\","
	    "\"checkout_sha\":\"c2\",\"user_name\":\"Jo Q\","
	    "\"project\":{\"path_with_namespace\":\"g/s/r\","
	    "\"web_url\":\"https://gl/g/s/r/\"},\"commits\":["
	    "{\"id\":\"c1\",\"message\":\"one\",\"author\":{\"name\":\"A\"}},"
	    "{\"id\":\"c2\",\"message\":\"two\",\"author\":{\"name\":\"B\"}},"
	    "{\"id\":\"c3\",\"message\":\"three\",\"author\":{\"name\":\"C\"}}"
	    "]}"), 0);
	ck_assert_str_eq(p->repo, "g/s/r");
	ck_assert_str_eq(p->after, "c2");
	ck_assert_str_eq(p->message, "two");
	ck_assert_str_eq(p->author, "B");
	ck_assert_str_eq(p->pusher, "Jo Q");
	ck_assert_str_eq(p->compare_url, "https://gl/g/s/r/-/compare/a...c2");
	push_free(p);

	/* No match and checkout_sha null: after, and the last commit. */
	ck_assert_int_eq(gl_parse(&p, "{\"object_kind\":\"push\",\"ref\":"
	    "\"refs/heads/main\",\"after\":\"zz\",\"checkout_sha\":null,"
	    "\"user_username\":\"\",\"user_name\":\"Jo\","
	    "\"project\":{\"path_with_namespace\":\"g/r\"},\"commits\":["
	    "{\"id\":\"c1\",\"message\":\"one\",\"author\":{\"name\":\"A\"}},"
	    "{\"id\":\"c2\",\"message\":\"two\",\"author\":{\"name\":\"B\"}}"
	    "]}"), 0);
	ck_assert_str_eq(p->after, "zz");
	ck_assert_str_eq(p->message, "two");
	ck_assert_str_eq(p->author, "B");
	ck_assert_str_eq(p->pusher, "Jo");
	ck_assert_str_eq(p->before, "");
	ck_assert_ptr_null(p->compare_url);
	push_free(p);
}
END_TEST

START_TEST(gitlab_parse_missing_fields)
{
	static const struct {
		const char	*json;
		const char	*msg;
	} cases[] = {
		{ "{\"ref\":\"refs/heads/m\",\"after\":\"b\",\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "missing field object_kind" },
		{ "{\"object_kind\":\"merge_request\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\",\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "object_kind is not push or tag_push" },
		{ "{\"object_kind\":\"push\",\"after\":\"b\",\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "missing field ref" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"project\":{\"path_with_namespace\":\"o/r\"}}",
		    "missing field after" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\"}",
		    "missing field project.path_with_namespace" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\",\"project\":{\"name\":\"r\"}}",
		    "missing field project.path_with_namespace" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\",\"checkout_sha\":1,\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "field checkout_sha must be a string" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\",\"commits\":{},\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "field commits must be an array" },
		{ "{\"object_kind\":\"push\",\"ref\":\"refs/heads/m\","
		    "\"after\":\"b\",\"commits\":[1],\"project\":"
		    "{\"path_with_namespace\":\"o/r\"}}",
		    "field commits[] must be an object" },
	};
	struct push	*p;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = (struct push *)1;
		ck_assert_int_eq(gl_parse(&p, cases[i].json), ERR_INVALID);
		ck_assert_str_eq(err_msg(), cases[i].msg);
		ck_assert_ptr_null(p);
	}
}
END_TEST

static struct push *
push_load(const char *name, int gitlab)
{
	struct push	*p;
	char		*json;
	size_t		 len;

	json = load(name, &len);
	if (gitlab)
		ck_assert_int_eq(hook_gitlab_parse(&p, json, len), 0);
	else
		ck_assert_int_eq(hook_github_parse(&p, json, len), 0);
	free(json);
	return p;
}

START_TEST(ignored_files)
{
	struct push	*p;
	char		 why[128];

	p = push_load("github_push.json", 0);
	ck_assert(!hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "");
	ck_assert(hook_push_ignored(why, sizeof(why), p, "main"));
	ck_assert_str_eq(why,
	    "branch master is not the production branch main");
	push_free(p);

	p = push_load("github_tag.json", 0);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "tag push");
	push_free(p);

	p = push_load("github_delete.json", 0);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "fix-cart"));
	ck_assert_str_eq(why, "branch deletion");
	push_free(p);

	p = push_load("gitlab_push.json", 1);
	ck_assert(!hook_push_ignored(why, sizeof(why), p, "master"));
	push_free(p);
	p = push_load("gitlab_tag.json", 1);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "tag push");
	push_free(p);
	p = push_load("gitlab_delete.json", 1);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "branch deletion");
	push_free(p);
}
END_TEST

static struct push *
mkpush(const char *ref, const char *branch, const char *message, bool tag,
    bool deleted)
{
	struct push	*p;

	p = xcalloc(1, sizeof(*p));
	p->repo = xstrdup("o/r");
	p->ref = xstrdup(ref);
	p->branch = branch != NULL ? xstrdup(branch) : NULL;
	p->before = xstrdup("");
	p->after = xstrdup("abc");
	p->message = xstrdup(message);
	p->author = xstrdup("");
	p->pusher = xstrdup("");
	p->tag = tag;
	p->deleted = deleted;
	return p;
}

START_TEST(ignored_rules)
{
	static const char *const	skips[] = {
		"Bump version [skip ci]",
		"[ci skip] regenerate docs",
		"Release 1.2\n\nChangelog only. [SKIP CI]",
		"chore: [Ci Skip]",
		"x[sKiP cI]x",
	};
	static const char *const	runs[] = {
		"", "skip ci", "[skip-ci]", "[skip  ci]", "[ci] skip",
		"[skip ci", "(skip ci)",
	};
	struct push	*p;
	char		 why[128], small[10];
	size_t		 i;

	for (i = 0; i < sizeof(skips) / sizeof(skips[0]); i++) {
		p = mkpush("refs/heads/master", "master", skips[i], false,
		    false);
		ck_assert_msg(hook_push_ignored(why, sizeof(why), p, "master"),
		    "ran \"%s\"", skips[i]);
		ck_assert_str_eq(why, "skip requested");
		push_free(p);
	}
	for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		p = mkpush("refs/heads/master", "master", runs[i], false,
		    false);
		ck_assert_msg(!hook_push_ignored(why, sizeof(why), p,
		    "master"), "ignored \"%s\": %s", runs[i], why);
		ck_assert_str_eq(why, "");
		push_free(p);
	}

	/* Order: tag, deletion, branch, skip. */
	p = mkpush("refs/tags/v1", NULL, "[skip ci]", true, true);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "tag push");
	push_free(p);
	p = mkpush("refs/heads/feature", "feature", "[skip ci]", false, true);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "branch deletion");
	push_free(p);
	p = mkpush("refs/heads/feature", "feature", "[skip ci]", false,
	    false);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why,
	    "branch feature is not the production branch master");
	/* A short buffer still gets a terminated (cut) reason. */
	memset(small, 'x', sizeof(small));
	ck_assert(hook_push_ignored(small, sizeof(small), p, "master"));
	ck_assert_str_eq(small, "branch fe");
	push_free(p);
	/* The branch must match exactly, not by prefix. */
	p = mkpush("refs/heads/master2", "master2", "", false, false);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why,
	    "branch master2 is not the production branch master");
	push_free(p);
	p = mkpush("refs/notes/commits", NULL, "", false, false);
	ck_assert(hook_push_ignored(why, sizeof(why), p, "master"));
	ck_assert_str_eq(why, "ref refs/notes/commits is not a branch");
	push_free(p);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("hook");

	tc = tcase_create("github_verify");
	tcase_add_test(tc, github_verify_rfc4231);
	tcase_add_test(tc, github_verify_documented_example);
	tcase_add_test(tc, github_verify_header_forms);
	tcase_add_test(tc, github_verify_raw_bytes);
	tcase_add_test(tc, github_verify_form_body_is_raw);
	suite_add_tcase(s, tc);

	tc = tcase_create("gitlab_verify");
	tcase_add_test(tc, gitlab_verify_token);
	suite_add_tcase(s, tc);

	tc = tcase_create("github_body");
	tcase_add_test(tc, github_body_json_copied);
	tcase_add_test(tc, github_body_form_file);
	tcase_add_test(tc, github_body_form_decoding);
	tcase_add_test(tc, github_body_form_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("github_parse");
	tcase_add_test(tc, github_parse_push);
	tcase_add_test(tc, github_parse_form_push);
	tcase_add_test(tc, github_parse_tag);
	tcase_add_test(tc, github_parse_delete);
	tcase_add_test(tc, github_parse_ping);
	tcase_add_test(tc, github_parse_minimal);
	tcase_add_test(tc, github_parse_missing_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_test(tc, parse_not_object);
	tcase_add_test(tc, parse_malformed);
	tcase_add_test(tc, parse_deep_nesting);
	tcase_add_test(tc, parse_nul_escape);
	tcase_add_test(tc, parse_caps);
	suite_add_tcase(s, tc);

	tc = tcase_create("repo");
	tcase_add_test(tc, repo_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("gitlab_parse");
	tcase_add_test(tc, gitlab_parse_push);
	tcase_add_test(tc, gitlab_parse_tag);
	tcase_add_test(tc, gitlab_parse_delete);
	tcase_add_test(tc, gitlab_parse_head_commit);
	tcase_add_test(tc, gitlab_parse_missing_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("push_ignored");
	tcase_add_test(tc, ignored_files);
	tcase_add_test(tc, ignored_rules);
	suite_add_tcase(s, tc);

	return s;
}
