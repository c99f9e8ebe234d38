/*
 * Unit tests of src/hook/: HMAC-SHA256 against RFC 4231 and GitHub's own
 * example, header edge cases, GitLab tokens, form bodies, parsing of the
 * payloads in tests/data/hook/, the ignore rules, and the strict JSON
 * scanner: its grammar corners, and a differential check against cJSON
 * (which parsed webhook bodies before) over hand-written cases and the
 * payload, fuzz corpus and fuzz regression files.
 */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

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

/*
 * The JSON scanner (src/hook/json.c), through the public parsers: a
 * value is put in a GitHub push that is otherwise complete, so the
 * parse succeeds exactly when the value is valid JSON.
 */
#define GH_HEAD	"{\"ref\":\"refs/heads/m\",\"after\":\"b\"," \
		"\"repository\":{\"full_name\":\"o/r\"},"

/* 0, or the message of hook_github_parse on GH_HEAD "x":value}. */
static const char *
gh_value(const char *value)
{
	struct push	*p = NULL;
	char		*json;
	int		 rc;

	json = xasprintf(GH_HEAD "\"x\":%s}", value);
	rc = hook_github_parse(&p, json, strlen(json));
	free(json);
	push_free(p);
	return rc == 0 ? "ok" : err_msg();
}

/* The head commit message a JSON string literal (quotes included) gives. */
static char *
gh_message(const char *literal)
{
	struct push	*p = NULL;
	char		*json, *msg = NULL;

	json = xasprintf(GH_HEAD "\"head_commit\":{\"message\":%s}}",
	    literal);
	if (hook_github_parse(&p, json, strlen(json)) == 0)
		msg = xstrdup(p->message);
	free(json);
	push_free(p);
	return msg;
}

static void
check_values(const char *const *vals, size_t n, const char *want)
{
	size_t	i;

	for (i = 0; i < n; i++)
		ck_assert_msg(strcmp(gh_value(vals[i]), want) == 0,
		    "%s: got \"%s\", want \"%s\"", vals[i], gh_value(vals[i]),
		    want);
}

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

START_TEST(json_escapes)
{
	static const struct {
		const char	*literal;
		const char	*want;
	} cases[] = {
		{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t" },
		{ "\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac" },
		{ "\"a\\u0001b\"", "a\001b" },
		{ "\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"",
		    "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf" },
		{ "\"\"", "" },
		{ "\"/\"", "/" },
	};
	static const char *const	bad[] = {
		"\"\\x41\"", "\"\\'\"", "\"\\a\"", "\"\\U0041\"", "\"\\u12\"",
		"\"\\u12g4\"", "\"\\u 123\"", "\"\\\"", "\"\\", "\"abc",
		"\"\\0\"", "\"\\u-123\"", "\"\\uzzzz\"",
	};
	struct push	*p;
	char		*msg;
	size_t		 i;

	for (i = 0; i < NELEM(cases); i++) {
		msg = gh_message(cases[i].literal);
		ck_assert_msg(msg != NULL, "%s: %s", cases[i].literal,
		    err_msg());
		ck_assert_str_eq(msg, cases[i].want);
		free(msg);
	}
	check_values(bad, NELEM(bad), "malformed JSON");
	/* cJSON read a bad \u as U+0000: this ref was master to it. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/master"
	    "\\uzzzzx\",\"after\":\"b\",\"repository\":"
	    "{\"full_name\":\"o/r\"}}"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
}
END_TEST

START_TEST(json_surrogates)
{
	static const char *const	bad[] = {
		"\"\\ud83d\"", "\"\\ud83dx\"", "\"\\ud83d\\n\"",
		"\"\\ud83d\\ud83d\"", "\"\\ude00\"", "\"\\ude00\\ud83d\"",
		"\"\\ud83d\\u0041\"", "\"\\ud83d\\ude0\"", "\"\\udbff\\uc000\"",
		"\"\\ud83d\\\\ude00\"",
	};
	char	*msg;

	msg = gh_message("\"\\ud83d\\ude00\"");
	ck_assert_str_eq(msg, "\xf0\x9f\x98\x80");
	free(msg);
	/* Either case of hex; the highest and lowest pairs. */
	msg = gh_message("\"\\uD83D\\uDE00\\ud800\\udc00\\udbff\\udfff\"");
	ck_assert_str_eq(msg, "\xf0\x9f\x98\x80\xf0\x90\x80\x80"
	    "\xf4\x8f\xbf\xbf");
	free(msg);
	check_values(bad, NELEM(bad), "malformed JSON");
}
END_TEST

START_TEST(json_numbers)
{
	static const char *const	good[] = {
		"0", "-0", "1e5", "1.5E-3", "123", "-12.5e+10", "1E5", "0.0",
		"1e-0", "1e999", "-0.0e0", "9007199254740993",
		"1234567890123456789012345678901234567890123456789012345678901"
		"234567890",
		"[0,-1,2.5]",
	};
	static const char *const	bad[] = {
		"01", "1.", ".5", "+1", "-", "-a", "1e", "1e+", "00", "-01",
		"1.e5", "0x1", "1.5.3", "Infinity", "NaN", "- 1", "1 2",
		"1e5e5", "--1", "1-2", "0.", "[01]", "-.5", "1E", "1ee5",
	};

	check_values(good, NELEM(good), "ok");
	check_values(bad, NELEM(bad), "malformed JSON");
}
END_TEST

START_TEST(json_literals)
{
	static const char *const	good[] = {
		"true", "false", "null", "[true,false,null]",
	};
	static const char *const	bad[] = {
		"tru", "True", "nul", "nulll", "falsey", "TRUE", "t", "f",
		"n", "nil", "undefined", "truefalse",
	};
	struct push	*p;

	check_values(good, NELEM(good), "ok");
	check_values(bad, NELEM(bad), "malformed JSON");
	/* The document's own end cuts a literal too. */
	ck_assert_int_eq(hook_github_parse(&p, GH_HEAD "\"x\":true}",
	    sizeof(GH_HEAD "\"x\":tr") - 1), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
}
END_TEST

START_TEST(json_containers)
{
	static const char *const	good[] = {
		"{}", "[]", "{ }", "[ ]", "[[]]", "[{}]", "[[],{}]",
		"{\"a\":{},\"b\":[],\"c\":[[[]]],\"d\":[{\"e\":{}}]}",
		"{\"\":1}", "[1,\"2\",[3],{\"4\":4}]",
	};
	static const char *const	bad[] = {
		"[1,]", "[,1]", "{\"a\"}", "{\"a\":1 \"b\":2}", "{,}",
		"{\"a\":1,,\"b\":2}", "{1:2}", "[1 2]", "[", "{", "]", "}",
		"{\"a\":1]", "[1}", "{\"a\" 1}", "{\"a\"::1}", "{'a':1}",
		"{a:1}", "[}", "{]",
	};
	struct push	*p;

	check_values(good, NELEM(good), "ok");
	check_values(bad, NELEM(bad), "malformed JSON");
	/* An empty root object is valid JSON without the fields. */
	ck_assert_int_eq(gh_parse(&p, "{}"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
	ck_assert_int_eq(gh_parse(&p, " { } "), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
}
END_TEST

START_TEST(json_whitespace)
{
	static const char *const	bad[] = {
		"\f{}", "{}\f", "\v{}", "{\x01}", "{\"a\":\x0b" "1}",
		"\xc2\xa0{}", "{}\xc2\xa0", "{\"a\"\f:1}",
		"\xef\xbb\xbf\xef\xbb\xbf{}", " \xef\xbb\xbf{}",
		"{}\xef\xbb\xbf",
	};
	struct push	*p;
	size_t		 i;

	/* Space, tab, CR and LF anywhere between tokens. */
	ck_assert_int_eq(gh_parse(&p, " \t\r\n{ \t\r\n\"ref\" \t\r\n: \t\r\n"
	    "\"refs/heads/m\" \t\r\n, \"after\":\"b\",\"repository\":{"
	    "\"full_name\" : \"o/r\" } ,\"x\":[ 1 , { } ] } \t\r\n"), 0);
	ck_assert_str_eq(p->ref, "refs/heads/m");
	push_free(p);
	/* A leading UTF-8 byte order mark is skipped, as cJSON did. */
	ck_assert_int_eq(gh_parse(&p, "\xef\xbb\xbf" GH_HEAD "\"x\":1}"), 0);
	ck_assert_str_eq(p->repo, "o/r");
	push_free(p);

	for (i = 0; i < NELEM(bad); i++) {
		ck_assert_msg(gh_parse(&p, bad[i]) == ERR_INVALID, "%zu", i);
		ck_assert_str_eq(err_msg(), "malformed JSON");
	}
	/* Whitespace alone is no document. */
	ck_assert_int_eq(gh_parse(&p, " \r\n\t"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
}
END_TEST

START_TEST(json_control_characters)
{
	static const char *const	bad[] = {
		"\"a\x01" "b\"", "\"a\tb\"", "\"a\nb\"", "\"\x1f\"",
		"\"\r\"",
	};
	struct push	*p;
	char		*json, c;

	check_values(bad, NELEM(bad), "malformed JSON");
	/* In a key too. */
	ck_assert_int_eq(gh_parse(&p, GH_HEAD "\"a\tb\":1}"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	/* DEL and bytes >= 0x80 are text; each byte < 0x20 is not. */
	ck_assert_str_eq(gh_value("\"\x7f\x80\xff\""), "ok");
	for (c = 1; c < 0x20; c++) {
		json = xasprintf("\"ab%ccd\"", c);
		ck_assert_msg(strcmp(gh_value(json), "malformed JSON") == 0,
		    "byte %d", c);
		free(json);
	}
}
END_TEST

START_TEST(json_trailing)
{
	static const char *const	bad[] = {
		"{}  x", "{}}", "{},", "{}\n{}", "{}]", "{}\"\"", "{}0",
		"{}null", "{} {", "{}/", "{}/* */", "{}#",
	};
	struct push	*p;
	char		*repo;
	size_t		 i;

	for (i = 0; i < NELEM(bad); i++) {
		ck_assert_msg(gh_parse(&p, bad[i]) == ERR_INVALID, "%zu", i);
		ck_assert_str_eq(err_msg(), "malformed JSON");
		ck_assert_int_eq(hook_gitlab_repo(&repo, bad[i],
		    strlen(bad[i])), ERR_INVALID);
		ck_assert_str_eq(err_msg(), "malformed JSON");
	}
}
END_TEST

/* GH_HEAD "x": then n nested arrays (1 innermost) and }. */
static char *
nested(size_t n)
{
	static const char	head[] = GH_HEAD "\"x\":";
	const size_t		h = sizeof(head) - 1;
	char			*s;

	s = xmalloc(h + 2 * n + 3);
	memcpy(s, head, h);
	memset(s + h, '[', n);
	s[h + n] = '1';
	memset(s + h + n + 1, ']', n);
	memcpy(s + h + 2 * n + 1, "}", 2);
	return s;
}

START_TEST(json_depth_limit)
{
	struct push	*p;
	char		*s;

	/* The root object and 999 arrays: cJSON's limit of 1000. */
	s = nested(999);
	ck_assert_msg(gh_parse(&p, s) == 0, "%s", err_msg());
	ck_assert_str_eq(p->repo, "o/r");
	push_free(p);
	free(s);
	s = nested(1000);
	ck_assert_int_eq(gh_parse(&p, s), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	free(s);
}
END_TEST

START_TEST(json_deep_mixed)
{
	const size_t	 n = 100000;
	struct push	*p;
	char		*s, *repo;
	size_t		 i;

	/* 100,000 deep, objects and arrays in turn, balanced. */
	s = xmalloc(7 * n);
	for (i = 0; i < n; i++) {
		memcpy(s + 6 * i, i % 2 ? "[     " : "{\"a\": ", 6);
		s[7 * n - 1 - i] = i % 2 ? ']' : '}';
	}
	ck_assert_int_eq(hook_github_parse(&p, s, 7 * n), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	ck_assert_int_eq(hook_gitlab_repo(&repo, s, 7 * n), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	free(s);
}
END_TEST

START_TEST(json_dense)
{
	const size_t	 n = 200000;
	static const char head[] = GH_HEAD "\"x\":[";
	struct push	*p;
	char		*s;
	size_t		 i, h = sizeof(head) - 1, len;

	/* A token per 2 bytes, the most JSON allows: the array grows. */
	s = xmalloc(h + 2 * n + 2);
	memcpy(s, head, h);
	for (i = 0; i < n; i++)
		memcpy(s + h + 2 * i, i + 1 < n ? "0," : "0]", 2);
	s[h + 2 * n] = '}';
	len = h + 2 * n + 1;
	ck_assert_int_eq(hook_github_parse(&p, s, len), 0);
	ck_assert_str_eq(p->repo, "o/r");
	push_free(p);
	/* And nested empty arrays, 2 bytes each, to the depth limit. */
	memset(s + h, '[', 998);
	memset(s + h + 998, ']', 999);
	s[h + 1997] = '}';
	ck_assert_int_eq(hook_github_parse(&p, s, h + 1998), 0);
	push_free(p);
	s[h + 998] = '[';
	ck_assert_int_eq(hook_github_parse(&p, s, h + 1998), ERR_INVALID);
	free(s);
}
END_TEST

START_TEST(json_first_duplicate_wins)
{
	struct push	*p;
	const char	*json;
	char		*repo;

	ck_assert_int_eq(gh_parse(&p, "{\"ref\":\"refs/heads/a\","
	    "\"ref\":\"refs/heads/b\",\"after\":\"1\",\"after\":2,"
	    "\"repository\":{\"full_name\":\"o/r\",\"full_name\":\"x/y\"},"
	    "\"repository\":[],\"head_commit\":{\"message\":\"one\","
	    "\"message\":\"two\"}}"), 0);
	ck_assert_str_eq(p->ref, "refs/heads/a");
	ck_assert_str_eq(p->after, "1");
	ck_assert_str_eq(p->repo, "o/r");
	ck_assert_str_eq(p->message, "one");
	push_free(p);
	/* A first null is the value, even before a string. */
	ck_assert_int_eq(gh_parse(&p, "{\"ref\":null,\"ref\":\"refs/heads/a\","
	    "\"after\":\"1\",\"repository\":{\"full_name\":\"o/r\"}}"),
	    ERR_INVALID);
	ck_assert_str_eq(err_msg(), "field ref must be a string");
	json = "{\"project\":{\"path_with_namespace\":\"a/b\"},"
	    "\"project\":{}}";
	ck_assert_int_eq(hook_gitlab_repo(&repo, json, strlen(json)), 0);
	ck_assert_str_eq(repo, "a/b");
	free(repo);
}
END_TEST

START_TEST(json_escaped_keys)
{
	struct push	*p;

	/* Names are compared unescaped: "\u0072ef" is ref. */
	ck_assert_int_eq(gh_parse(&p, "{\"\\u0072ef\":\"refs/heads/m\","
	    "\"af\\u0074er\":\"b\",\"\\u0072epository\":{\"full\\u005fname\""
	    ":\"o\\/r\"},\"head_commit\":{\"\\u006d\\u0065ssage\":\"hi\"}}"),
	    0);
	ck_assert_str_eq(p->ref, "refs/heads/m");
	ck_assert_str_eq(p->after, "b");
	ck_assert_str_eq(p->repo, "o/r");
	ck_assert_str_eq(p->message, "hi");
	push_free(p);
	/* An escaped name that only starts like, or extends, the name. */
	ck_assert_int_eq(gh_parse(&p, "{\"\\u0072efs\":\"refs/heads/m\","
	    "\"re\":\"x\",\"after\":\"b\",\"repository\":"
	    "{\"full_name\":\"o/r\"}}"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
	ck_assert_int_eq(gh_parse(&p, "{\"r\\u00e9f\":\"refs/heads/m\","
	    "\"after\":\"b\",\"repository\":{\"full_name\":\"o/r\"}}"),
	    ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
	/* GitLab compares commit ids and object_kind unescaped too. */
	ck_assert_int_eq(gl_parse(&p, "{\"object_kind\":\"\\u0070ush\","
	    "\"ref\":\"refs/heads/m\",\"after\":\"c\\u0031\",\"project\":"
	    "{\"path_with_namespace\":\"g/r\"},\"commits\":["
	    "{\"id\":\"\\u00631\",\"message\":\"one\"},"
	    "{\"id\":\"c2\",\"message\":\"two\"}]}"), 0);
	ck_assert_str_eq(p->after, "c1");
	ck_assert_str_eq(p->message, "one");
	push_free(p);
	/* An escaped all-zero after is a deletion. */
	ck_assert_int_eq(gl_parse(&p, "{\"object_kind\":\"push\","
	    "\"ref\":\"refs/heads/m\",\"after\":\"0\\u00300\",\"project\":"
	    "{\"path_with_namespace\":\"g/r\"}}"), 0);
	ck_assert(p->deleted);
	push_free(p);
	/* A NUL escape in a name is refused like one in a value. */
	ck_assert_int_eq(gh_parse(&p, GH_HEAD "\"re\\u0000f\":1}"),
	    ERR_INVALID);
	ck_assert_str_eq(err_msg(), "NUL character in a JSON string");
}
END_TEST

START_TEST(json_nested_names_skipped)
{
	struct push	*p;

	/* Names inside other members' values are not the root's. */
	ck_assert_int_eq(gh_parse(&p, "{\"x\":{\"ref\":\"refs/heads/evil\"},"
	    "\"y\":[{\"ref\":\"refs/heads/evil\"},[\"ref\"]],\"z\":\"ref\","
	    "\"ref\":\"refs/heads/m\",\"after\":\"b\",\"repository\":"
	    "{\"owner\":{\"full_name\":\"evil/x\"},\"full_name\":\"o/r\"},"
	    "\"name\":\"root\",\"head_commit\":{\"author\":{\"x\":"
	    "{\"name\":\"evil\"},\"name\":\"A\"},\"message\":\"m\"}}"), 0);
	ck_assert_str_eq(p->ref, "refs/heads/m");
	ck_assert_str_eq(p->repo, "o/r");
	ck_assert_str_eq(p->author, "A");
	ck_assert_str_eq(p->message, "m");
	push_free(p);
	/* Values are not names: "ref" as a value does not match. */
	ck_assert_int_eq(gh_parse(&p, "{\"a\":\"ref\",\"b\":\"refs/heads/m\","
	    "\"after\":\"b\",\"repository\":{\"full_name\":\"o/r\"}}"),
	    ERR_INVALID);
	ck_assert_str_eq(err_msg(), "missing field ref");
}
END_TEST

START_TEST(json_doc_reads_in_place)
{
	struct hook_doc	*d;
	struct push	*p;
	char		*json;
	size_t		 len;

	/* One scan: the repository at once, the push from the same doc. */
	json = load("github_push.json", &len);
	ck_assert_int_eq(hook_github_doc(&d, json, len), 0);
	ck_assert_str_eq(hook_doc_repo(d), "acme/shop");
	ck_assert_int_eq(hook_doc_push(&p, d), 0);
	ck_assert_str_eq(p->ref, "refs/heads/master");
	ck_assert_str_eq(p->author, "Jane Doe");
	push_free(p);
	hook_doc_free(d);
	hook_doc_free(NULL);
	free(json);

	json = load("gitlab_push.json", &len);
	ck_assert_int_eq(hook_gitlab_doc(&d, json, len), 0);
	ck_assert_str_eq(hook_doc_repo(d), "acme/shop");
	ck_assert_int_eq(hook_doc_push(&p, d), 0);
	ck_assert_str_eq(p->pusher, "jdoe");
	push_free(p);
	hook_doc_free(d);
	ck_assert_int_eq(hook_github_doc(&d, json, len), ERR_INVALID);
	ck_assert_ptr_null(d);
	ck_assert_int_eq(hook_gitlab_doc(&d, "{", 1), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "malformed JSON");
	ck_assert_int_eq(hook_gitlab_doc(&d, "", 0), ERR_INVALID);
	free(json);
}
END_TEST

/*
 * Differential: the scanner against cJSON, which parsed webhook bodies
 * before, behind the checks hook.c had around it then.
 */
enum jclass { J_OK, J_MALFORMED, J_NUL, J_NOT_OBJECT };

static bool
ref_nul_escape(const char *s, size_t len)
{
	const char	*p = s, *end = s + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && p[1] == 'u' &&
		    memcmp(p + 2, "0000", 4) == 0)
			return true;
		p += 2;
		if (p >= end)
			break;
	}
	return false;
}

/*
 * Whether the text has a \u escape without 4 hex digits. cJSON decoded
 * those as U+0000, which cut its C strings short: "master\uzzzzx" read
 * as "master". The scanner refuses them.
 */
static bool
ref_bad_u_escape(const char *s, size_t len)
{
	const char	*p = s, *end = s + len;
	size_t		 i;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && p[1] == 'u') {
			for (i = 2; i < 6; i++) {
				if (strchr("0123456789abcdefABCDEF", p[i]) ==
				    NULL || p[i] == '\0')
					return true;
			}
		}
		p += 2;
		if (p >= end)
			break;
	}
	return false;
}

/* The old hook_json_parse: NULs, then cJSON, then trailing bytes. */
static enum jclass
ref_parse(cJSON **out, const char *s, size_t len)
{
	cJSON		*root;
	const char	*end = NULL;

	*out = NULL;
	if (len == 0 || memchr(s, '\0', len) != NULL)
		return J_MALFORMED;
	if (ref_nul_escape(s, len))
		return J_NUL;
	if ((root = cJSON_ParseWithLengthOpts(s, len, &end, 0)) == NULL)
		return J_MALFORMED;
	while (end < s + len && (*end == ' ' || *end == '\t' ||
	    *end == '\n' || *end == '\r'))
		end++;
	if (end != s + len) {
		cJSON_Delete(root);
		return J_MALFORMED;
	}
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return J_NOT_OBJECT;
	}
	*out = root;
	return J_OK;
}

/* The scanner's verdict, from what hook_*_repo says. */
static enum jclass
new_class(int gitlab, const char *s, size_t len, char **repo_out)
{
	const char	*m;
	int		 rc;

	*repo_out = NULL;
	rc = gitlab ? hook_gitlab_repo(repo_out, s, len) :
	    hook_github_repo(repo_out, s, len);
	if (rc == 0)
		return J_OK;
	m = err_msg();
	if (strcmp(m, "malformed JSON") == 0)
		return J_MALFORMED;
	if (strcmp(m, "NUL character in a JSON string") == 0)
		return J_NUL;
	if (strcmp(m, "payload is not a JSON object") == 0)
		return J_NOT_OBJECT;
	return J_OK;		/* valid JSON, a field is wrong */
}

/* A string member down a path of object names, or NULL. */
static const char *
ref_str(const cJSON *obj, const char *a, const char *b, const char *c)
{
	const char	*names[3] = { a, b, c };
	size_t		 i;

	for (i = 0; i < 3 && names[i] != NULL; i++) {
		if (!cJSON_IsObject(obj))
			return NULL;
		obj = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
	}
	return cJSON_IsString(obj) ? obj->valuestring : NULL;
}

/* The shortest cap of a stored field (hook_int.h). */
#define HOOK_FIELD_MAX_TEST	1024

/* Whether a field the scanner extracted is cJSON's, made UTF-8. */
static void
check_field(const char *got, const char *want, const char *what,
    const char *name)
{
	char	*fixed;

	if (want == NULL)
		return;
	ck_assert_msg(got != NULL, "%s: %s missing", name, what);
	fixed = utf8_fix(want);
	if (fixed != NULL)
		want = fixed;
	/* Longer than any cap: the start of it, cut at a character. */
	if (strlen(want) > HOOK_FIELD_MAX_TEST)
		ck_assert_msg(strlen(got) + 3 >= HOOK_FIELD_MAX_TEST &&
		    strncmp(got, want, strlen(got)) == 0,
		    "%s: %s is not cJSON's, cut", name, what);
	else
		ck_assert_msg(strcmp(got, want) == 0,
		    "%s: %s is \"%s\", cJSON says \"%s\"", name, what, got,
		    want);
	free(fixed);
}

/* Both parsers on one text: the same verdict and the same fields. */
static void
differ(int gitlab, const char *s, size_t len, const char *name)
{
	struct push	*p = NULL;
	cJSON		*root;
	enum jclass	 want, got;
	char		*repo;

	want = ref_parse(&root, s, len);
	got = new_class(gitlab, s, len, &repo);
	if (want == J_OK && got == J_MALFORMED && ref_bad_u_escape(s, len)) {
		cJSON_Delete(root);
		return;		/* cJSON's laxness, in lax[] below */
	}
	ck_assert_msg(want == got, "%s (%zu bytes): cJSON %d, scanner %d",
	    name, len, want, got);
	if (root == NULL) {
		free(repo);
		return;
	}
	check_field(repo, gitlab ?
	    ref_str(root, "project", "path_with_namespace", NULL) :
	    ref_str(root, "repository", "full_name", NULL), "repo", name);
	free(repo);
	if ((gitlab ? hook_gitlab_parse(&p, s, len) :
	    hook_github_parse(&p, s, len)) == 0) {
		check_field(p->ref, ref_str(root, "ref", NULL, NULL), "ref",
		    name);
		check_field(p->before, ref_str(root, "before", NULL, NULL),
		    "before", name);
		if (!gitlab) {
			check_field(p->after, ref_str(root, "after", NULL,
			    NULL), "after", name);
			check_field(p->compare_url, ref_str(root, "compare",
			    NULL, NULL), "compare", name);
			check_field(p->message, ref_str(root, "head_commit",
			    "message", NULL), "message", name);
			check_field(p->author, ref_str(root, "head_commit",
			    "author", "name"), "author", name);
		}
		push_free(p);
	}
	cJSON_Delete(root);
}

/* Inputs on which both parsers agree, with the shape they have. */
static const char *const	agree[] = {
	"{}", "[]", "\"x\"", "1", "null", "", " ", "{", "}", "{}x",
	"{\"a\":1,}", "{\"a\" : [1, 2.5e3, -0, true, false, null, {}]}",
	"{\"a\":\"\\u0000\"}", "{\"a\":\"x\\\\u0000\"}",
	"{\"a\":\"\\ud83d\\ude00\"}", "{\"a\":\"\\ud83d\"}",
	"{\"a\":\"\\ude00\"}", "{\"a\":\"\\q\"}", "{\"a\":\"\\u12\"}",
	"{\"a\":tru}", "{\"a\":nulll}", "{\"a\":.5}", "{\"a\":+1}",
	"{\"a\":-}", "{\"a\":1e}", "{\"a\":1e+}", "{\"a\":0x1}",
	"{\"a\":1.5.3}", "{\"a\":[1,]}", "{\"a\":[,]}", "{\"a\" 1}",
	"{'a':1}", "{a:1}", "\xef\xbb\xbf{}", "{}\xef\xbb\xbf",
	"{\"a\":\"\\ud83d\\u0000\"}", "{\"a\":\"\\u0000\" x",
	"{\"a\":\"\\ud83d\\uzzzz\"}",
	"{\"repository\":{\"full_name\":\"o/r\"}}",
	"{\"project\":{\"path_with_namespace\":\"g\\/r\"}}",
	"{\"repository\":{\"full_name\":\"\\u00e9\\ud83d\\ude00\"}}",
	"{\"repository\":{\"full_name\":\"\xff\xfe\"}}",
	"{\"repository\":{\"full_name\":\"a\"},\"repository\":1}",
	"{\"ref\":\"refs/heads/m\",\"after\":\"b\",\"repository\":"
	    "{\"full_name\":\"o/r\"},\"head_commit\":{\"message\":"
	    "\"a\\nb\\u20ac\",\"author\":{\"name\":\"\\u004a\"}}}",
};

/*
 * Inputs cJSON accepted that strict JSON does not (see json.c): numbers
 * with leading zeros or a bare '.', raw control characters in strings,
 * control characters as whitespace and \u without 4 hex digits. Each
 * must stay that way: cJSON says yes, the scanner "malformed JSON".
 */
static const char *const	lax[] = {
	"{\"a\":\"\\uzzzz\"}", "{\"a\":\"\\u12x4\"}",
	"{\"a\":01}", "{\"a\":-01}", "{\"a\":00}", "{\"a\":1.}",
	"{\"a\":1.e5}", "{\"a\":-.5}", "{\"a\":\"x\x01y\"}",
	"{\"a\":\"x\ty\"}", "{\"a\":\"x\ny\"}", "\f{}", "{\v}",
	"{\"a\":\x01" "1}", "\x1f{}",
};

START_TEST(json_differential_cases)
{
	cJSON	*root;
	char	*repo, name[32];
	size_t	 i;
	int	 gl;

	for (gl = 0; gl < 2; gl++) {
		for (i = 0; i < NELEM(agree); i++) {
			snprintf(name, sizeof(name), "agree[%zu]", i);
			differ(gl, agree[i], strlen(agree[i]), name);
		}
	}
	for (i = 0; i < NELEM(lax); i++) {
		ck_assert_msg(ref_parse(&root, lax[i], strlen(lax[i])) ==
		    J_OK, "lax[%zu]: cJSON refuses it now", i);
		cJSON_Delete(root);
		ck_assert_msg(new_class(0, lax[i], strlen(lax[i]), &repo) ==
		    J_MALFORMED, "lax[%zu]: the scanner accepts it", i);
		ck_assert_ptr_null(repo);
	}
}
END_TEST

/* Every payload file, whole, cut short, and with bytes replaced. */
static void
differ_file(int gitlab, const char *path)
{
	static const char	subst[] = "\"\\{}[],: x";
	char			*s, name[600];
	size_t			 len, i, k, step;
	char			 orig;

	ck_assert_msg(file_read(&s, &len, path, 1 << 20) == 0, "%s: %s",
	    path, err_msg());
	differ(gitlab, s, len, path);
	step = len / 64 + 1;
	for (i = 0; i < len; i += step) {
		snprintf(name, sizeof(name), "%s cut at %zu", path, i);
		differ(gitlab, s, i, name);
		orig = s[i];
		/* A digit replaced could make "05", which only cJSON takes. */
		if (orig >= '0' && orig <= '9')
			continue;
		for (k = 0; k < sizeof(subst) - 1; k++) {
			s[i] = subst[k];
			snprintf(name, sizeof(name), "%s with '%c' at %zu",
			    path, subst[k], i);
			differ(gitlab, s, len, name);
		}
		s[i] = orig;
	}
	free(s);
}

START_TEST(json_differential_files)
{
	static const char *const	dirs[] = {
		TEST_DATA_DIR "/hook", TEST_DATA_DIR "/../fuzz/corpus/github",
		TEST_DATA_DIR "/../fuzz/corpus/gitlab",
		TEST_DATA_DIR "/fuzz-regressions/github",
		TEST_DATA_DIR "/fuzz-regressions/gitlab",
	};
	DIR		*dir;
	struct dirent	*de;
	char		*path;
	size_t		 i, n = 0;

	for (i = 0; i < NELEM(dirs); i++) {
		ck_assert_msg((dir = opendir(dirs[i])) != NULL, "%s", dirs[i]);
		while ((de = readdir(dir)) != NULL) {
			if (de->d_name[0] == '.' ||
			    strstr(de->d_name, ".json") == NULL)
				continue;
			path = xasprintf("%s/%s", dirs[i], de->d_name);
			differ_file(strstr(de->d_name, "gitlab") != NULL ||
			    strstr(dirs[i], "gitlab") != NULL, path);
			free(path);
			n++;
		}
		closedir(dir);
	}
	ck_assert_uint_ge(n, 20);
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

	tc = tcase_create("json_grammar");
	tcase_add_test(tc, json_escapes);
	tcase_add_test(tc, json_surrogates);
	tcase_add_test(tc, json_numbers);
	tcase_add_test(tc, json_literals);
	tcase_add_test(tc, json_containers);
	tcase_add_test(tc, json_whitespace);
	tcase_add_test(tc, json_control_characters);
	tcase_add_test(tc, json_trailing);
	suite_add_tcase(s, tc);

	tc = tcase_create("json_depth");
	tcase_add_test(tc, json_depth_limit);
	tcase_add_test(tc, json_deep_mixed);
	tcase_add_test(tc, json_dense);
	suite_add_tcase(s, tc);

	tc = tcase_create("json_lookup");
	tcase_add_test(tc, json_first_duplicate_wins);
	tcase_add_test(tc, json_escaped_keys);
	tcase_add_test(tc, json_nested_names_skipped);
	tcase_add_test(tc, json_doc_reads_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("json_differential");
	tcase_add_test(tc, json_differential_cases);
	tcase_add_test(tc, json_differential_files);
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
