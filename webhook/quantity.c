/* quantity.c - Kubernetes resource quantities ("100m", "0.5", "128Mi",
 * "1e3"), as the config and the pod annotations that override it use them
 * for the proxy's requests and limits: which strings are quantities, and
 * their value (to compare a request with its limit). Pure; declared in
 * config.h. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* A Kubernetes resource quantity: a non-negative decimal number and an
 * optional suffix (Ki Mi Gi Ti Pi Ei, n u m k M G T P E, or e/E and an
 * exponent), as in k8s.io/apimachinery's resource.ParseQuantity. */
bool
config_valid_quantity(const char *s)
{
	const char *p = s;
	static const char *const suffixes[] = {
		"Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
		"n", "u", "m", "k", "M", "G", "T", "P", "E", NULL
	};
	size_t digits = 0, i;

	if (s == NULL)
		return false;
	if (*p == '+')
		p++;
	while (isdigit((unsigned char)*p)) {
		p++;
		digits++;
	}
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p)) {
			p++;
			digits++;
		}
	}
	if (digits == 0)
		return false;
	if (*p == '\0')
		return true;
	for (i = 0; suffixes[i] != NULL; i++)
		if (strcmp(p, suffixes[i]) == 0)
			return true;	/* "E" (exa) included */
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		return *p == '\0';
	}
	return false;
}

long double
config_quantity_value(const char *s)
{
	static const struct {
		const char *suffix;
		long double mult;
	} units[] = {
		{ "Ki", 1024.0L }, { "Mi", 1048576.0L },
		{ "Gi", 1073741824.0L }, { "Ti", 1099511627776.0L },
		{ "Pi", 1125899906842624.0L }, { "Ei", 1152921504606846976.0L },
		{ "n", 1e-9L }, { "u", 1e-6L }, { "m", 1e-3L }, { "k", 1e3L },
		{ "M", 1e6L }, { "G", 1e9L }, { "T", 1e12L }, { "P", 1e15L },
		{ "E", 1e18L },
	};
	long double v;
	char *end;
	size_t i;

	v = strtold(s, &end);
	if (*end == '\0' || end == s)
		return v;	/* strtold took the exponent, if any */
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return v * units[i].mult;
	return v;
}
