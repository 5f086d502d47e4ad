/* log.c - structured logs on stderr, one line each: a JSON object, or
 * logfmt (key=value) for people reading a terminal. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "jsonwrite.h"
#include "log.h"

static atomic_int log_min_level = LOG_LEVEL_INFO;
static atomic_int log_cur_format = LOG_FORMAT_JSON;

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
};

void
log_set_level(enum log_level level)
{
	atomic_store(&log_min_level, (int)level);
}

void
log_set_format(enum log_format format)
{
	atomic_store(&log_cur_format, (int)format);
}

int
log_parse_format(const char *name, enum log_format *format)
{
	if (strcmp(name, "json") == 0)
		*format = LOG_FORMAT_JSON;
	else if (strcmp(name, "text") == 0)
		*format = LOG_FORMAT_TEXT;
	else
		return -1;
	return 0;
}

/* Can a logfmt value go unquoted? Not empty, no space, quote, '=' or
 * control character. */
static bool
log_text_bare(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' ||
		    *s == '\\' || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

/* One logfmt pair " key=value" onto f: strings bare when they can be,
 * JSON-quoted (escapes included) when not; other values as JSON. */
static void
log_text_pair(FILE *f, const char *key, json_t *val)
{
	char *enc;

	fprintf(f, "%s%s=", ftell(f) > 0 ? " " : "", key);
	if (json_is_string(val) && log_text_bare(json_string_value(val))) {
		fputs(json_string_value(val), f);
		return;
	}
	if ((enc = jsonwrite_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT |
	    JSON_REAL_PRECISION(6), NULL)) != NULL) {
		fputs(enc, f);
		free(enc);
	}
}

/* The same line as logfmt: time=... level=... msg="..." key=value...
 * Returns a new string ending in a newline, or NULL. */
static char *
log_text_line(json_t *obj, size_t *lenp)
{
	const char *key;
	json_t *val;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&out, &len)) == NULL)
		return NULL;
	json_object_foreach(obj, key, val)
		log_text_pair(f, key, val);
	fputc('\n', f);
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	*lenp = len;
	return out;
}

int
log_parse_level(const char *name, enum log_level *level)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(name, "warning") == 0) {
		*level = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

/* "2026-11-25T16:56:35.123Z" (RFC 3339, UTC, milliseconds). */
static void
log_time(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char secs[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", secs,
	    (unsigned)(ts.tv_nsec / 1000000L) % 1000u);
}

/* One write(2) per line, so that lines from threads do not interleave
 * (atomic on a pipe up to PIPE_BUF, 4 KiB, which a log line stays under). */
static void
log_write_line(const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDERR_FILENO, s, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += n;
		len -= (size_t)n;
	}
}

json_t *
log_json_string(const char *val)
{
	json_t *j;
	char *copy;
	size_t i;

	if (val == NULL)
		return json_null();
	if ((j = json_string(val)) != NULL)
		return j;
	if ((copy = strdup(val)) == NULL)
		return NULL;
	for (i = 0; copy[i] != '\0'; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

void
log_fields(enum log_level level, const char *msg, json_t *fields)
{
	static const char oom[] =
	    "{\"level\":\"error\",\"msg\":\"out of memory while logging\"}\n";
	const size_t flags = JSON_COMPACT | JSON_PRESERVE_ORDER |
	    JSON_REAL_PRECISION(6);
	json_t *obj = NULL, *val;
	const char *key;
	char ts[48], *line = NULL, *nl;
	size_t len;

	if ((int)level < atomic_load(&log_min_level))
		goto done;
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		level = LOG_LEVEL_ERROR;
	log_time(ts, sizeof(ts));
	if ((obj = json_object()) == NULL)
		goto fail;
	json_object_set_new(obj, "time", json_string(ts));
	json_object_set_new(obj, "level", json_string(level_names[level]));
	json_object_set_new(obj, "msg", log_json_string(msg != NULL ? msg : ""));
	json_object_foreach(fields, key, val) {
		if (strcmp(key, "time") != 0 && strcmp(key, "level") != 0 &&
		    strcmp(key, "msg") != 0)
			json_object_set(obj, key, val);
	}
	if (atomic_load(&log_cur_format) == LOG_FORMAT_TEXT) {
		if ((line = log_text_line(obj, &len)) == NULL)
			goto fail;
		log_write_line(line, len);
		goto done;
	}
	if ((line = jsonwrite_dumps(obj, flags, &len)) == NULL ||
	    (nl = realloc(line, len + 1)) == NULL)
		goto fail;
	line = nl;
	line[len] = '\n';
	log_write_line(line, len + 1);
	goto done;
fail:
	/* Out of memory: still say something, without the fields. */
	log_write_line(oom, sizeof(oom) - 1);
done:
	free(line);
	json_decref(obj);
	json_decref(fields);
}

void
log_vmsg(enum log_level level, const char *msg, va_list ap)
{
	json_t *fields;
	const char *key, *val;

	if ((int)level < atomic_load(&log_min_level))
		return;
	fields = json_object();
	while ((key = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		json_object_set_new(fields, key, log_json_string(val));
	}
	log_fields(level, msg, fields);
}

void
log_msg(enum log_level level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_vmsg(level, msg, ap);
	va_end(ap);
}
