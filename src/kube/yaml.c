/*
 * yaml.c - cJSON documents as a YAML stream, for `ferry render`, with
 * libyaml's emitter (which knows YAML's quoting and escaping rules).
 *
 * DESIGN: a JSON string must read back as a string. The emitter is told
 * a scalar may be plain only when a YAML 1.1 reader (kubectl's, PyYAML)
 * would not resolve its plain form to another type: anything that looks
 * like a number, a boolean (yes/no/on/off too), null, a timestamp or is
 * empty is quoted. Multi-line strings (scripts) use the literal block
 * style so a person can read them.
 */
#include "kube.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <yaml.h>

#include "util.h"

#define YAML_MAX	((size_t)64 * 1024 * 1024)

static int
on_output(void *arg, unsigned char *data, size_t size)
{
	return buf_append(arg, data, size) == 0;
}

/* True if s, written plain, would read back as something else. */
static bool
needs_quotes(const char *s)
{
	static const char *const words[] = { "y", "n", "yes", "no", "true",
	    "false", "on", "off", "null", "~", ".inf", "-.inf", "+.inf",
	    ".nan", "=", "<<" };
	const char	*p, *d;
	char		*t, *end;
	size_t		 i, n = 0;
	bool		 num;

	if (*s == '\0')
		return true;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	/* Any number strtod reads whole once '_' is dropped (1_000, 1e3,
	   0x1F, .5, inf). */
	t = xstrdup(s);
	for (p = s; *p != '\0'; p++)
		if (*p != '_')
			t[n++] = *p;
	t[n] = '\0';
	(void)strtod(t, &end);
	num = n > 0 && *end == '\0';
	free(t);
	if (num)
		return true;
	/* YAML 1.1 octal/binary/sexagesimal ints and floats (0o7, 0b1,
	   1:30), timestamps (2026-11-26...). */
	d = s + (s[0] == '-' || s[0] == '+');
	if (isdigit((unsigned char)d[0])) {
		if (d[0] == '0' && (d[1] == 'b' || d[1] == 'o'))
			return true;
		for (p = d; *p != '\0' && (isdigit((unsigned char)*p) ||
		    *p == ':' || *p == '_' || *p == '.'); p++)
			;
		if (*p == '\0')
			return true;
		if (isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2])
		    && isdigit((unsigned char)s[3]) && s[4] == '-')
			return true;
	}
	return false;
}

static int
scalar(yaml_emitter_t *em, const char *s, bool is_string)
{
	yaml_event_t		 ev;
	yaml_scalar_style_t	 style = YAML_ANY_SCALAR_STYLE;
	bool			 plain = !is_string || !needs_quotes(s);

	if (is_string && strchr(s, '\n') != NULL)
		style = YAML_LITERAL_SCALAR_STYLE;
	if (is_string && !plain)
		style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (yaml_char_t *)s, (int)strlen(s), plain, 1, style))
		return -1;
	return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int
node(yaml_emitter_t *em, const cJSON *j)
{
	yaml_event_t	 ev;
	const cJSON	*c;
	char		 num[64];

	if (cJSON_IsObject(j)) {
		if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
		    j->child == NULL ? YAML_FLOW_MAPPING_STYLE :
		    YAML_BLOCK_MAPPING_STYLE) || !yaml_emitter_emit(em, &ev))
			return -1;
		cJSON_ArrayForEach(c, j) {
			if (scalar(em, c->string, true) != 0 ||
			    node(em, c) != 0)
				return -1;
		}
		if (!yaml_mapping_end_event_initialize(&ev))
			return -1;
		return yaml_emitter_emit(em, &ev) ? 0 : -1;
	}
	if (cJSON_IsArray(j)) {
		if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
		    j->child == NULL ? YAML_FLOW_SEQUENCE_STYLE :
		    YAML_BLOCK_SEQUENCE_STYLE) || !yaml_emitter_emit(em, &ev))
			return -1;
		cJSON_ArrayForEach(c, j) {
			if (node(em, c) != 0)
				return -1;
		}
		if (!yaml_sequence_end_event_initialize(&ev))
			return -1;
		return yaml_emitter_emit(em, &ev) ? 0 : -1;
	}
	if (cJSON_IsString(j))
		return scalar(em, j->valuestring, true);
	if (cJSON_IsBool(j))
		return scalar(em, cJSON_IsTrue(j) ? "true" : "false", false);
	if (cJSON_IsNumber(j)) {
		if (j->valuedouble == (double)(long long)j->valuedouble)
			(void)snprintf(num, sizeof(num), "%lld",
			    (long long)j->valuedouble);
		else
			(void)snprintf(num, sizeof(num), "%.17g",
			    j->valuedouble);
		return scalar(em, num, false);
	}
	return scalar(em, "null", false);
}

int
kube_yaml_format(char **out, const cJSON *array)
{
	yaml_emitter_t	 em;
	yaml_event_t	 ev;
	struct buf	 b;
	const cJSON	*doc;
	int		 ok = 1;

	*out = NULL;
	buf_init(&b, YAML_MAX);
	if (!yaml_emitter_initialize(&em))
		return err_set(ERR_FAIL, "cannot initialise libyaml");
	yaml_emitter_set_output(&em, on_output, &b);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, 78);
	yaml_emitter_set_indent(&em, 2);
	ok &= yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
	    yaml_emitter_emit(&em, &ev);
	cJSON_ArrayForEach(doc, array) {
		if (!ok)
			break;
		ok &= yaml_document_start_event_initialize(&ev, NULL, NULL,
		    NULL, 0) && yaml_emitter_emit(&em, &ev);
		ok &= node(&em, doc) == 0;
		ok &= yaml_document_end_event_initialize(&ev, 1) &&
		    yaml_emitter_emit(&em, &ev);
	}
	ok &= yaml_stream_end_event_initialize(&ev) &&
	    yaml_emitter_emit(&em, &ev);
	ok &= yaml_emitter_flush(&em);
	yaml_emitter_delete(&em);
	if (!ok) {
		buf_dispose(&b);
		return err_set(ERR_FAIL, "cannot format the manifests as "
		    "YAML");
	}
	*out = buf_steal(&b);
	return 0;
}
