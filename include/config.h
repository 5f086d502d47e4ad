/* config.h - meshinject configuration: YAML loaded with libyaml, merged over
 * the embedded default, validated into plain structs. */
#ifndef MESHINJECT_CONFIG_H
#define MESHINJECT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Features a stage, the config or a pod may switch on or off (DESIGN.md). */
enum feature {
	FEATURE_PROXY,
	FEATURE_REDIRECT,
	FEATURE_CNI,
	FEATURE_MTLS,
	FEATURE_NATIVE_SIDECAR,
	FEATURE_HOLD_APP,
	FEATURE_PROBE_REWRITE,
	FEATURE_METRICS_MERGE,
	FEATURE_OBSERVE,
	FEATURE_COUNT
};

#define FEATURE_BIT(f) (1u << (f))

/* "proxy", "native-sidecar", ...; NULL for an out-of-range value. */
const char *feature_name(enum feature f);
/* The feature called `name`, or -1 when there is none. */
int feature_parse(const char *name);

/* Proxy settings: the global `proxy:` map, and each stage's copy with the
 * stage's own `proxy:` keys merged over it. Strings are owned by the config;
 * a NULL resource means "not set". */
struct proxy_config {
	char *image;
	long uid;
	int port_admin;
	int port_outbound;
	int port_inbound;
	int port_status;
	int port_metrics;
	char *xds_address;	/* host:port written into the Envoy bootstrap */
	char *log_level;	/* trace, debug, info, warning, error, critical, off */
	char *cpu_request;
	char *memory_request;
	char *cpu_limit;
	char *memory_limit;
};

struct stage {
	char *name;
	unsigned features;	/* FEATURE_BIT() set */
	bool enforce;
	int rollout_percent;	/* 0..100; 100 when the stage has no rollout */
	char *rollout_fallback;	/* stage for the rest; never NULL once loaded
				 * when rollout_percent < 100 (defaults to the
				 * previous stage in order, "off" for the first) */
	struct proxy_config proxy;
};

struct config {
	char *default_stage;
	char **ignored_namespaces;
	size_t n_ignored_namespaces;
	bool allow_image_override;
	struct proxy_config proxy;
	char *init_image;
	char *mtls_mode;		/* STRICT or PERMISSIVE */
	char *mtls_token_audience;
	struct stage *stages;		/* default's order, then the file's new ones */
	size_t n_stages;
	char hash[17];			/* configHash: 16 hex digits of SHA-256 of
					 * the merged config in canonical form */
};

/* Every problem found while loading, each "file:line: key: reason". */
struct config_errors {
	char **msgs;
	size_t count;
};

/* The embedded default config (webhook/default-config.yaml), NUL-terminated. */
extern const char config_default_yaml[];

/* Load the embedded default. Returns a new config, or NULL with errs filled
 * (never expected: a test loads it). */
struct config *config_load_default(struct config_errors *errs);

/* Load `path` and merge it over the embedded default: maps merge key by key,
 * a stage the file defines replaces that stage. Returns a new config, or NULL
 * with every problem in errs (unknown keys, bad values, unreadable file). */
struct config *config_load_file(const char *path, struct config_errors *errs);

/* The most bytes a config file may have (config_load_file refuses more). */
#define CONFIG_MAX_BYTES	(1024 * 1024)

/* Add "path: reason" to errs, as the loader reports a whole-file problem
 * (config_load_file's shell: it cannot open or read the file). */
void config_error_file(const char *path, const char *reason,
    struct config_errors *errs);

/* As config_load_file, from a buffer; `name` is used in messages. The core:
 * config_load_file itself is the shell's (config_file.c). */
struct config *config_load_buffer(const char *name, const char *text,
    size_t len, struct config_errors *errs);

/* config_free(NULL) is a no-op. */
void config_free(struct config *cfg);
/* Frees the messages, leaves errs empty and reusable. */
void config_errors_clear(struct config_errors *errs);

/* The stage called `name` (borrowed from cfg), or NULL. */
const struct stage *config_stage(const struct config *cfg, const char *name);
/* Is `ns` in ignoredNamespaces? */
bool config_namespace_ignored(const struct config *cfg, const char *ns);

/* The config's own value checks, shared with the pod annotations that
 * override the same settings. A Kubernetes quantity, not negative ("100m",
 * "0.5", "128Mi", "1e3"); an Envoy log level (trace, debug, info, warning,
 * error, critical, off); an image reference (non-empty, at most 1024 bytes,
 * no spaces or control characters). NULL is never valid. */
bool config_valid_quantity(const char *s);
/* The value of a quantity config_valid_quantity() accepted ("128Mi" ->
 * 134217728, "100m" -> 0.1), for comparing a request with its limit. */
long double config_quantity_value(const char *s);
bool config_valid_log_level(const char *s);
bool config_valid_image(const char *s);

#endif
