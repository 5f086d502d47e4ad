/* log.h - structured logs: one JSON object per line on stderr,
 * {"time": RFC 3339 UTC, "level", "msg", plus the caller's fields}, or the
 * same as logfmt (time=... level=... msg="..." key=value) with
 * LOG_FORMAT_TEXT.
 * Safe to call from any thread; a line is written with one write(2). */
#ifndef MESHINJECT_LOG_H
#define MESHINJECT_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR
};

enum log_format {
	LOG_FORMAT_JSON,
	LOG_FORMAT_TEXT
};

/* JSON (the default) or logfmt text. */
void log_set_format(enum log_format format);
/* "json" or "text" into *format; -1 for anything else. */
int log_parse_format(const char *name, enum log_format *format);

/* Lines below `level` are dropped (default LOG_LEVEL_INFO). */
void log_set_level(enum log_level level);
/* "debug", "info", "warn" or "error" into *level; -1 for anything else. */
int log_parse_level(const char *name, enum log_level *level);

/* Write one line. After `msg` come string pairs (key, value) ended by a NULL
 * key; a NULL value is written as JSON null. Keys "time", "level" and "msg"
 * are reserved and skipped; keys are the caller's constants, each once.
 * Strings that are not valid UTF-8 are written with '?' for each bad
 * byte. Nothing here is ever the request body. */
void log_msg(enum log_level level, const char *msg, ...);
void log_vmsg(enum log_level level, const char *msg, va_list ap);
/* One field of a line for log_fields: a string (NULL is written as
 * null), an integer or a real (six significant digits). */
enum log_field_kind {
	LOG_FIELD_STRING,
	LOG_FIELD_INT,
	LOG_FIELD_REAL
};

struct log_field {
	const char *key;
	enum log_field_kind kind;
	const char *s;
	long long i;
	double r;
};

#define LOG_STR(k, v)	((struct log_field){ .key = (k), \
			    .kind = LOG_FIELD_STRING, .s = (v) })
#define LOG_INT(k, v)	((struct log_field){ .key = (k), \
			    .kind = LOG_FIELD_INT, .i = (v) })
#define LOG_REAL(k, v)	((struct log_field){ .key = (k), \
			    .kind = LOG_FIELD_REAL, .r = (v) })

/* Write one line with fields[0..n) in their order (the review line: no
 * tree is built). Keys are the caller's constants, each once. */
void log_fields(enum log_level level, const char *msg,
    const struct log_field *fields, size_t n);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
