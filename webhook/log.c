/* log.c - structured logs on stderr, one line each: a JSON object, or
 * logfmt (key=value) for people reading a terminal. Written straight into
 * one buffer (jsonwrite's scalars), no tree: a line per review. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "jsonwrite.h"
#include "log.h"
#include "utf8.h"

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

/* "2026-11-25T16:56:35.123Z" (RFC 3339, UTC, milliseconds), at buf (room
 * for LOG_TIME_LEN + 1 bytes). The part up to the seconds is formatted
 * once per second per thread: gmtime_r, strftime and snprintf cost some
 * 3,000 instructions, a tenth of a review's log line. */
#define LOG_TIME_LEN	24

static void
log_time(char *buf)
{
	static _Thread_local time_t last = (time_t)-1;
	static _Thread_local char secs[LOG_TIME_LEN];	/* "...T16:56:35." */
	struct timespec ts;
	unsigned ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != last) {
		struct tm tm;

		/* RFC 3339 has four-digit years: a clock outside them gets
		 * a time that says so */
		if (gmtime_r(&ts.tv_sec, &tm) == NULL ||
		    strftime(secs, sizeof(secs), "%Y-%m-%dT%H:%M:%S.", &tm) !=
		    LOG_TIME_LEN - 4) {
			memcpy(buf, "0000-00-00T00:00:00.000Z", LOG_TIME_LEN + 1);
			return;
		}
		last = ts.tv_sec;
	}
	ms = (unsigned)(ts.tv_nsec / 1000000L) % 1000u;
	memcpy(buf, secs, LOG_TIME_LEN - 4);
	buf[LOG_TIME_LEN - 4] = (char)('0' + ms / 100);
	buf[LOG_TIME_LEN - 3] = (char)('0' + ms / 10 % 10);
	buf[LOG_TIME_LEN - 2] = (char)('0' + ms % 10);
	buf[LOG_TIME_LEN - 1] = 'Z';
	buf[LOG_TIME_LEN] = '\0';
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

/* ---- the line -------------------------------------------------------- */

/* A line being written: JSON ({"key":value,...}) or logfmt (key=value
 * ...), into one buffer that log_write_line writes with one write(2). */
struct line {
	struct buf b;
	bool text;
	bool first;
};

/* jsonwrite_real's decimal-point cache, asked once per thread rather than
 * once per line (two snprintf calls): meshinject never calls setlocale,
 * so the point is the C locale's for the life of the process. */
static _Thread_local char log_point;

#define LINE_MAX_BYTES	(1024 * 1024)
#define LINE_FIRST	512	/* room first taken for a line: a review's ~300 */

/* Can a logfmt value go unquoted? Not empty, no space, quote, '=',
 * backslash or control character. */
static bool
text_bare(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == '=' ||
		    s[i] == '\\' || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

static void
line_key(struct line *l, const char *key)
{
	if (l->text) {
		if (!l->first)
			buf_addc(&l->b, ' ');
		buf_lit(&l->b, key);
		buf_addc(&l->b, '=');
	} else {
		buf_addc(&l->b, l->first ? '{' : ',');
		jsonwrite_string(&l->b, key, strlen(key));
		buf_addc(&l->b, ':');
	}
	l->first = false;
}

/* val[0..n) bare in logfmt where it can be, else quoted and escaped as
 * JSON. Returns 0, -1 (the buffer failed), or -2 when val is not valid
 * UTF-8, the line then as it was. */
static int
line_value(struct line *l, const char *val, size_t n)
{
	size_t mark = l->b.len;
	int rc;

	if (l->text && text_bare(val, n)) {
		if (!utf8_valid(val, n))
			return -2;
		return buf_add(&l->b, val, n);
	}
	/* jsonwrite_string checks the UTF-8 as it goes: most values are
	 * valid, and are read once */
	if ((rc = jsonwrite_string(&l->b, val, n)) == -2 && !l->b.failed) {
		l->b.len = mark;
		l->b.data[mark] = '\0';
	}
	return rc;
}

/* A string value: NULL is null; bare in logfmt where it can be, else
 * quoted and escaped as JSON; bytes that are not valid UTF-8 become '?'. */
static void
line_str(struct line *l, const char *key, const char *val)
{
	char *copy;
	size_t n;
	int rc;

	line_key(l, key);
	if (val == NULL) {
		buf_lit(&l->b, "null");
		return;
	}
	n = strlen(val);
	if ((rc = line_value(l, val, n)) == -2) {
		if ((copy = strdup(val)) == NULL) {
			buf_fail(&l->b);
			return;
		}
		utf8_clean(copy);
		rc = line_value(l, copy, n);
		free(copy);
	}
	if (rc != 0)
		buf_fail(&l->b);
}

static void
line_begin(struct line *l, enum log_level level, const char *msg)
{
	char ts[LOG_TIME_LEN + 1];

	buf_init(&l->b, LINE_MAX_BYTES);
	buf_reserve(&l->b, LINE_FIRST);	/* at once, not by doubling */
	l->text = atomic_load(&log_cur_format) == LOG_FORMAT_TEXT;
	l->first = true;
	log_time(ts);
	line_str(l, "time", ts);
	line_str(l, "level", level_names[level]);
	line_str(l, "msg", msg != NULL ? msg : "");
}

static bool
reserved(const char *key)
{
	return strcmp(key, "time") == 0 || strcmp(key, "level") == 0 ||
	    strcmp(key, "msg") == 0;
}

/* End the line and write it; out of memory, still say something. */
static void
line_end(struct line *l)
{
	static const char oom[] =
	    "{\"level\":\"error\",\"msg\":\"out of memory while logging\"}\n";
	char *text;
	size_t len;

	if (!l->text)
		buf_addc(&l->b, '}');
	buf_addc(&l->b, '\n');
	if ((text = buf_take(&l->b, &len)) == NULL) {
		log_write_line(oom, sizeof(oom) - 1);
		return;
	}
	log_write_line(text, len);
	free(text);
}

static enum log_level
level_known(enum log_level level)
{
	if ((unsigned)level >= sizeof(level_names) / sizeof(level_names[0]))
		return LOG_LEVEL_ERROR;
	return level;
}

void
log_fields(enum log_level level, const char *msg,
    const struct log_field *fields, size_t n)
{
	struct line l;
	size_t i;

	if ((int)level < atomic_load(&log_min_level))
		return;
	line_begin(&l, level_known(level), msg);
	for (i = 0; i < n; i++) {
		const struct log_field *f = &fields[i];

		if (reserved(f->key))
			continue;
		switch (f->kind) {
		case LOG_FIELD_STRING:
			line_str(&l, f->key, f->s);
			break;
		case LOG_FIELD_INT:
			line_key(&l, f->key);
			jsonwrite_integer(&l.b, f->i);
			break;
		case LOG_FIELD_REAL:
			line_key(&l, f->key);
			/* a NaN or an infinity: null, as JSON has neither */
			if (jsonwrite_real(&l.b, f->r, 6, &log_point) != 0 &&
			    !l.b.failed)
				buf_lit(&l.b, "null");
			break;
		}
	}
	line_end(&l);
}

void
log_vmsg(enum log_level level, const char *msg, va_list ap)
{
	struct line l;
	const char *key, *val;

	if ((int)level < atomic_load(&log_min_level))
		return;
	line_begin(&l, level_known(level), msg);
	while ((key = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		if (!reserved(key))
			line_str(&l, key, val);
	}
	line_end(&l);
}

void
log_msg(enum log_level level, const char *msg, ...)
{
	va_list ap;

	va_start(ap, msg);
	log_vmsg(level, msg, ap);
	va_end(ap);
}
