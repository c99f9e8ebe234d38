#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "util.h"

START_TEST(buf_ceiling)
{
	struct buf	b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_puts(&b, "1234"), 0);
	ck_assert_int_eq(buf_puts(&b, "5678"), 0);
	ck_assert_int_eq(buf_puts(&b, "9"), ERR_TOOBIG);
	ck_assert_uint_eq(b.len, 8);
	ck_assert_str_eq(b.data, "12345678");
	ck_assert_int_eq(buf_printf(&b, "%d", 1), ERR_TOOBIG);
	buf_reset(&b);
	ck_assert_int_eq(buf_printf(&b, "%s-%d", "ab", 42), 0);
	ck_assert_str_eq(b.data, "ab-42");
	buf_dispose(&b);
}
END_TEST

/* A reserved buffer takes the appends in place; the ceiling holds. */
START_TEST(buf_reserve_in_place)
{
	struct buf	 b;
	char		*at;

	buf_init(&b, 100);
	ck_assert_int_eq(buf_reserve(&b, 101), ERR_TOOBIG);
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(buf_reserve(&b, 100), 0);
	ck_assert_uint_ge(b.cap, 101);
	at = b.data;
	ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
	ck_assert_int_eq(buf_puts(&b, "abcdefghij"), 0);
	ck_assert_ptr_eq(b.data, at);
	ck_assert_str_eq(b.data, "0123456789abcdefghij");
	ck_assert_int_eq(buf_reserve(&b, 81), ERR_TOOBIG);
	ck_assert_int_eq(buf_reserve(&b, 80), 0);
	ck_assert_ptr_eq(b.data, at);
	buf_dispose(&b);
}
END_TEST

START_TEST(buf_binary_and_steal)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_append(&b, "a\0b", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(memcmp(b.data, "a\0b", 4), 0);
	s = buf_steal(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_int_eq(memcmp(s, "a\0b", 3), 0);
	free(s);
	s = buf_steal(&b);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

START_TEST(hex_round_trip)
{
	unsigned char	in[4] = { 0x00, 0x7f, 0xab, 0xff }, out[4];
	char		hex[9];

	hex_encode(hex, in, 4);
	ck_assert_str_eq(hex, "007fabff");
	ck_assert_int_eq(hex_decode(out, 4, "007FABff"), 0);
	ck_assert_int_eq(memcmp(in, out, 4), 0);
	ck_assert_int_eq(hex_decode(out, 4, "007fab"), ERR_INVALID);
	ck_assert_int_eq(hex_decode(out, 4, "007fabfg"), ERR_INVALID);
}
END_TEST

START_TEST(ct_compare)
{
	ck_assert(ct_streq("secret", "secret"));
	ck_assert(!ct_streq("secret", "secreT"));
	ck_assert(!ct_streq("secret", "secret2"));
	ck_assert(!ct_streq("", "x"));
	ck_assert(ct_streq("", ""));
	ck_assert(!ct_streq(NULL, "x"));
	ck_assert(ct_equal("a\0b", 3, "a\0b", 3));
	ck_assert(!ct_equal("a\0b", 3, "a\0c", 3));
}
END_TEST

START_TEST(int64_parse)
{
	int64_t	v;

	ck_assert_int_eq(parse_int64(&v, "42", 0, 100), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(parse_int64(&v, "-5", -10, 10), 0);
	ck_assert_int_eq(v, -5);
	ck_assert_int_eq(parse_int64(&v, "101", 0, 100), ERR_INVALID);
	ck_assert_int_eq(parse_int64(&v, "12a", 0, 100), ERR_INVALID);
	ck_assert_int_eq(parse_int64(&v, "", 0, 100), ERR_INVALID);
	ck_assert_int_eq(parse_int64(&v, " 1", 0, 100), ERR_INVALID);
	ck_assert_int_eq(parse_int64(&v, "99999999999999999999", 0,
	    INT64_MAX), ERR_INVALID);
	ck_assert_int_eq(parse_int64(&v, NULL, 0, 1), ERR_INVALID);
}
END_TEST

START_TEST(duration_parse)
{
	int64_t	v;

	ck_assert_int_eq(parse_duration_ms(&v, "30s"), 0);
	ck_assert_int_eq(v, 30000);
	ck_assert_int_eq(parse_duration_ms(&v, "5m"), 0);
	ck_assert_int_eq(v, 300000);
	ck_assert_int_eq(parse_duration_ms(&v, "1h"), 0);
	ck_assert_int_eq(v, 3600000);
	ck_assert_int_eq(parse_duration_ms(&v, "1h30m"), 0);
	ck_assert_int_eq(v, 5400000);
	ck_assert_int_eq(parse_duration_ms(&v, "250ms"), 0);
	ck_assert_int_eq(v, 250);
	ck_assert_int_eq(parse_duration_ms(&v, "10"), 0);
	ck_assert_int_eq(v, 10000);
	ck_assert_int_eq(parse_duration_ms(&v, "5x"), ERR_INVALID);
	ck_assert_str_eq(err_msg(),
	    "invalid duration \"5x\" (use e.g. 30s, 5m, 1h)");
	ck_assert_int_eq(parse_duration_ms(&v, "0s"), ERR_INVALID);
	ck_assert_int_eq(parse_duration_ms(&v, "m"), ERR_INVALID);
	ck_assert_int_eq(parse_duration_ms(&v, ""), ERR_INVALID);
	ck_assert_int_eq(parse_duration_ms(&v, "-1s"), ERR_INVALID);
	ck_assert_int_eq(parse_duration_ms(&v, "5m10"), ERR_INVALID);
	ck_assert_int_eq(parse_duration_ms(&v,
	    "99999999999999999999h"), ERR_INVALID);
}
END_TEST

START_TEST(bytes_parse)
{
	int64_t	v;

	ck_assert_int_eq(parse_bytes(&v, "1MiB"), 0);
	ck_assert_int_eq(v, 1048576);
	ck_assert_int_eq(parse_bytes(&v, "512Ki"), 0);
	ck_assert_int_eq(v, 512 * 1024);
	ck_assert_int_eq(parse_bytes(&v, "2GiB"), 0);
	ck_assert_int_eq(v, 2LL << 30);
	ck_assert_int_eq(parse_bytes(&v, "10MB"), 0);
	ck_assert_int_eq(v, 10000000);
	ck_assert_int_eq(parse_bytes(&v, "123"), 0);
	ck_assert_int_eq(v, 123);
	ck_assert_int_eq(parse_bytes(&v, "1 MiB"), ERR_INVALID);
	ck_assert_int_eq(parse_bytes(&v, "MiB"), ERR_INVALID);
	ck_assert_int_eq(parse_bytes(&v, "1TiB"), ERR_INVALID);
	ck_assert_int_eq(parse_bytes(&v, "99999999999999GiB"), ERR_INVALID);
}
END_TEST

START_TEST(time_format)
{
	char	ts[TIME_RFC3339_LEN];

	time_format_rfc3339(ts, sizeof(ts), 0);
	ck_assert_str_eq(ts, "1970-01-01T00:00:00.000Z");
	time_format_rfc3339(ts, sizeof(ts), 1795694400123LL);
	ck_assert_str_eq(ts, "2026-11-26T12:00:00.123Z");
	ck_assert(time_now_ms() > 1700000000000LL);
	ck_assert(time_mono_ms() >= 0);
}
END_TEST

START_TEST(duration_format)
{
	char	s[32];

	format_duration(s, sizeof(s), 300000);
	ck_assert_str_eq(s, "5m");
	format_duration(s, sizeof(s), 3600000);
	ck_assert_str_eq(s, "1h");
	format_duration(s, sizeof(s), 5400000);
	ck_assert_str_eq(s, "1h30m");
	format_duration(s, sizeof(s), 45000);
	ck_assert_str_eq(s, "45s");
	format_duration(s, sizeof(s), 250);
	ck_assert_str_eq(s, "250ms");
	format_duration(s, sizeof(s), 90000);
	ck_assert_str_eq(s, "1m30s");
}
END_TEST

START_TEST(files)
{
	char	 dir[] = "/tmp/ferry-util.XXXXXX", *path, *nested, *data;
	size_t	 len;
	FILE	*f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	nested = xasprintf("%s/a/b/c", dir);
	ck_assert_int_eq(mkdir_p(nested, 0700), 0);
	ck_assert_int_eq(mkdir_p(nested, 0700), 0);
	path = xasprintf("%s/f.txt", nested);
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	ck_assert_int_eq(file_read(&data, &len, path, 100), 0);
	ck_assert_uint_eq(len, 6);
	ck_assert_str_eq(data, "hello\n");
	free(data);
	ck_assert_int_eq(file_read(&data, &len, path, 3), ERR_TOOBIG);
	ck_assert_ptr_null(data);
	unlink(path);
	ck_assert_int_eq(file_read(&data, &len, path, 3), ERR_NOTFOUND);
	free(path);
	ck_assert_int_eq(rmdir(nested), 0);
	free(nested);
	nested = xasprintf("%s/a/b", dir);
	ck_assert_int_eq(rmdir(nested), 0);
	free(nested);
	nested = xasprintf("%s/a", dir);
	ck_assert_int_eq(rmdir(nested), 0);
	free(nested);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(utf8_repair)
{
	char	*s;

	ck_assert_ptr_null(utf8_fix("plain ascii"));
	ck_assert_ptr_null(utf8_fix("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x9a\xa2"));
	s = utf8_fix("a\xff" "b");
	ck_assert_str_eq(s, "a\xef\xbf\xbd" "b");
	free(s);
	/* Overlong "/", a lone surrogate, a cut sequence at the end. */
	s = utf8_fix("\xc0\xaf|\xed\xa0\x80|\xe2\x9c");
	ck_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd|"
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
	    "\xef\xbf\xbd\xef\xbf\xbd");
	free(s);
}
END_TEST

START_TEST(err_messages)
{
	ck_assert_int_eq(err_set(ERR_AUTH, "bad %s", "signature"), ERR_AUTH);
	ck_assert_str_eq(err_msg(), "bad signature");
	ck_assert_str_eq(err_name(ERR_NOTFOUND), "not_found");
	err_clear();
	ck_assert_str_eq(err_msg(), "");
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("util");
	struct {
		const char	*name;
		const TTest	*fn;
	} cases[] = {
		{ "buf_ceiling", buf_ceiling },
		{ "buf_binary_and_steal", buf_binary_and_steal },
		{ "buf_reserve_in_place", buf_reserve_in_place },
		{ "hex_round_trip", hex_round_trip },
		{ "ct_compare", ct_compare },
		{ "int64_parse", int64_parse },
		{ "duration_parse", duration_parse },
		{ "bytes_parse", bytes_parse },
		{ "time_format", time_format },
		{ "duration_format", duration_format },
		{ "files", files },
		{ "err_messages", err_messages },
		{ "utf8_repair", utf8_repair },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		TCase	*tc = tcase_create(cases[i].name);

		tcase_add_test(tc, cases[i].fn);
		suite_add_tcase(s, tc);
	}
	return s;
}
