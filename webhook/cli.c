/* cli.c - the subcommands' flags: getopt_long and the --help text, both
 * from one table per command (cli.h), so that they cannot disagree. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The widest option column before the help moves to a line of its own. */
#define CLI_COLUMN_MAX	26

static const struct cli_opt cli_help_opt = {
	'h', "help", NULL, "show this help", false
};

void
cli_begin(struct cli_parser *p, const struct cli_cmd *cmd, int argc,
    char **argv)
{
	const struct cli_opt *o;
	size_t n = 0, s = 0;

	memset(p, 0, sizeof(*p));
	p->cmd = cmd;
	p->argc = argc;
	p->argv = argv;
	/* "+": stop at the first operand, so that file names and "-" stay
	 * where they are; ":": a missing value is told apart. */
	p->shortopts[s++] = '+';
	p->shortopts[s++] = ':';
	for (o = cmd->opts; o->name != NULL; o++) {
		if (n >= CLI_MAX_OPTS) {
			/* A table too long for the arrays: a programming
			 * error that no input can cause. */
			fprintf(stderr, "meshinject %s: more than %d options\n",
			    cmd->name, CLI_MAX_OPTS);
			abort();
		}
		p->longopts[n].name = o->name;
		p->longopts[n].has_arg = o->arg != NULL ? required_argument :
		    no_argument;
		p->longopts[n].flag = NULL;
		p->longopts[n].val = o->key;
		n++;
		if (o->key < 128 && !o->hidden) {
			p->shortopts[s++] = (char)o->key;
			if (o->arg != NULL)
				p->shortopts[s++] = ':';
		}
	}
	p->longopts[n].name = cli_help_opt.name;
	p->longopts[n].has_arg = no_argument;
	p->longopts[n].val = cli_help_opt.key;
	p->shortopts[s++] = (char)cli_help_opt.key;
	p->shortopts[s] = '\0';
	opterr = 0;
	optind = 0;	/* glibc: start over, whatever ran getopt before */
}

/* The table's entry for key, or NULL. */
static const struct cli_opt *
cli_find(const struct cli_cmd *cmd, int key)
{
	const struct cli_opt *o;

	if (key == cli_help_opt.key)
		return &cli_help_opt;
	for (o = cmd->opts; o->name != NULL; o++)
		if (o->key == key)
			return o;
	return NULL;
}

static int
cli_error(struct cli_parser *p, enum cli_error kind)
{
	p->error = kind;
	switch (kind) {
	case CLI_ERR_MISSING:
		snprintf(p->err, sizeof(p->err), "%s needs a value", p->flag);
		break;
	case CLI_ERR_NO_VALUE:
		snprintf(p->err, sizeof(p->err), "%s takes no value", p->flag);
		break;
	default:
		snprintf(p->err, sizeof(p->err), "unknown argument \"%s\"",
		    p->flag);
		break;
	}
	return CLI_ERROR;
}

int
cli_next(struct cli_parser *p)
{
	const char *arg;
	size_t len;
	int before, idx = -1, c;
	bool is_long;

	p->value = NULL;
	p->arg = NULL;
	p->opt = NULL;
	p->flag[0] = '\0';
	p->error = CLI_ERR_NONE;
	p->err[0] = '\0';
	/* Without permutation the option getopt_long is about to read
	 * starts at argv[optind] (0 means 1: it has not started yet). */
	before = optind == 0 ? 1 : optind;
	c = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, &idx);
	if (c == -1) {
		p->optind = optind;
		return CLI_END;
	}
	arg = before < p->argc ? p->argv[before] : "";
	p->arg = arg;
	is_long = strncmp(arg, "--", 2) == 0;
	if (is_long) {
		len = strcspn(arg, "=");
		if (len >= sizeof(p->flag))
			len = sizeof(p->flag) - 1;
		memcpy(p->flag, arg, len);
		p->flag[len] = '\0';
	} else {
		snprintf(p->flag, sizeof(p->flag), "-%c",
		    c == ':' || c == '?' ? optopt : c);
	}
	if (c == ':') {
		p->opt = cli_find(p->cmd, optopt);
		return cli_error(p, CLI_ERR_MISSING);
	}
	if (c == '?') {
		/* glibc: optopt is the option's key for --flag=value on a flag
		 * without value, 0 for an unknown or ambiguous long option. */
		if (is_long && optopt != 0) {
			p->opt = cli_find(p->cmd, optopt);
			return cli_error(p, CLI_ERR_NO_VALUE);
		}
		return cli_error(p, CLI_ERR_UNKNOWN);
	}
	/* getopt_long takes an unambiguous prefix for the option; we do not:
	 * --proxy-port is not --proxy-ports, and a flag added later must not
	 * change what an old command line means. */
	if (is_long && (idx < 0 || strcmp(p->flag + 2,
	    p->longopts[idx].name) != 0))
		return cli_error(p, CLI_ERR_UNKNOWN);
	p->opt = cli_find(p->cmd, c);
	if (c == cli_help_opt.key)
		return CLI_HELP;
	p->value = optarg;
	return c;
}

/* Print text; each line after the first starts with indent spaces. */
static void
cli_put_indented(FILE *f, const char *text, int indent)
{
	const char *nl;

	while ((nl = strchr(text, '\n')) != NULL && nl[1] != '\0') {
		fprintf(f, "%.*s%*s", (int)(nl - text + 1), text, indent, "");
		text = nl + 1;
	}
	fputs(text, f);
}

/* The option column of o: "  -f, --filename FILE" or "  --stage S". */
static int
cli_column(const struct cli_opt *o, char *buf, size_t len)
{
	int n;

	if (o->key < 128 && !o->hidden)
		n = snprintf(buf, len, "  -%c, --%s%s%s", o->key, o->name,
		    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
	else
		n = snprintf(buf, len, "  --%s%s%s", o->name,
		    o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "");
	return n < 0 ? 0 : n >= (int)len ? (int)len - 1 : n;
}

static void
cli_put_option(FILE *f, const struct cli_opt *o, int width)
{
	char col[96];
	int n = cli_column(o, col, sizeof(col));

	if (n > width)
		fprintf(f, "%s\n%*s", col, width + 2, "");
	else
		fprintf(f, "%-*s", width + 2, col);
	cli_put_indented(f, o->help, width + 2);
	fputc('\n', f);
}

/* The synopsis: a line after the first that starts with "meshinject " is
 * another form of the command, under the first; any other continues the
 * one above, under its arguments. */
static void
cli_put_usage_line(const struct cli_cmd *cmd, FILE *f)
{
	const char *line = cmd->synopsis != NULL ? cmd->synopsis : "";
	const char *nl;
	int indent;

	if (*line == '\0') {
		fprintf(f, "usage: meshinject %s\n", cmd->name);
		return;
	}
	indent = (int)strlen("usage: meshinject  ") + (int)strlen(cmd->name);
	fprintf(f, "usage: meshinject %s ", cmd->name);
	for (;;) {
		nl = strchr(line, '\n');
		fprintf(f, "%.*s\n", nl != NULL ? (int)(nl - line) :
		    (int)strlen(line), line);
		if (nl == NULL || nl[1] == '\0')
			break;
		line = nl + 1;
		fprintf(f, "%*s", strncmp(line, "meshinject ", 11) == 0 ?
		    (int)strlen("usage: ") : indent, "");
	}
}

void
cli_usage(const struct cli_cmd *cmd, FILE *f)
{
	const struct cli_opt *o;
	char col[96];
	int width, n;

	width = cli_column(&cli_help_opt, col, sizeof(col));
	for (o = cmd->opts; o->name != NULL; o++) {
		n = cli_column(o, col, sizeof(col));
		if (!o->hidden && n > width && n <= CLI_COLUMN_MAX)
			width = n;
	}
	cli_put_usage_line(cmd, f);
	fprintf(f, "%s\n", cmd->summary);
	if (cmd->about != NULL)
		fprintf(f, "\n%s", cmd->about);
	fprintf(f, "\noptions:\n");
	for (o = cmd->opts; o->name != NULL; o++)
		if (!o->hidden)
			cli_put_option(f, o, width);
	cli_put_option(f, &cli_help_opt, width);
	if (cmd->footer != NULL)
		fprintf(f, "\n%s", cmd->footer);
}

int
cli_fail(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "meshinject %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_put_usage_line(cmd, stderr);
	fprintf(stderr, "Run 'meshinject %s --help' for the options.\n",
	    cmd->name);
	return 2;
}

int
cli_fail_parse(const struct cli_parser *p)
{
	if (p->error != CLI_ERR_NONE)
		return cli_fail(p->cmd, "%s", p->err);
	return cli_fail(p->cmd, "unexpected argument \"%s\"",
	    p->optind < p->argc ? p->argv[p->optind] : "");
}
