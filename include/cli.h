/* cli.h - the subcommands' flags. One table per command gives getopt_long
 * its options and `--help` its text, so that every command's help has the
 * same shape and every flag error the same wording (exit status 2).
 * A shell header: nothing in the core includes it. */
#ifndef MESHINJECT_CLI_H
#define MESHINJECT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <getopt.h>

/* Keys of long-only options start here; a key below 128 is also the short
 * option (-f). 'h' is taken: -h and --help are every command's. */
#define CLI_LONG	256
#define CLI_MAX_OPTS	32

/* cli_next's answers besides an option's key. */
#define CLI_END		(-1)	/* no more options: operands from p->optind */
#define CLI_HELP	(-2)	/* -h or --help */
#define CLI_ERROR	(-3)	/* p->err says what, p->error which kind */

/* The string of a macro's value, for numbers in help texts. */
#define CLI_STR_(x)	#x
#define CLI_STR(x)	CLI_STR_(x)

struct cli_opt {
	int key;		/* a letter (and so -X) or CLI_LONG + n */
	const char *name;	/* the long name, without "--" */
	const char *arg;	/* the value's name in the help (FILE), or NULL
				 * for a flag that takes none */
	const char *help;	/* what it does, with "(default ...)"; "\n"
				 * starts another line of it */
	bool hidden;		/* an alias: accepted, not in the help, no
				 * short form */
};

struct cli_cmd {
	const char *name;	/* "inject" */
	const char *synopsis;	/* after "usage: meshinject NAME "; "\n"
				 * continues it on an indented line, or
				 * starts another form: "\nmeshinject NAME
				 * ..." */
	const char *summary;	/* one line, also in `meshinject --help` */
	const char *about;	/* paragraphs before the options, or NULL */
	const struct cli_opt *opts;	/* ends with a zero entry */
	const char *footer;	/* after the options (exit status), or NULL */
};

enum cli_error {
	CLI_ERR_NONE,
	CLI_ERR_UNKNOWN,	/* an option that is not in the table */
	CLI_ERR_MISSING,	/* an option without its value */
	CLI_ERR_NO_VALUE,	/* --flag=value for a flag that takes none */
};

/* The state of one parse. Nothing in it is allocated. */
struct cli_parser {
	const struct cli_cmd *cmd;
	int argc;
	char **argv;
	struct option longopts[CLI_MAX_OPTS + 2];
	char shortopts[2 * CLI_MAX_OPTS + 8];
	const char *value;	/* the option's value (NULL: it takes none) */
	char flag[64];		/* the option as given, "-n" or "--namespace"
				 * (without "=value"), for messages */
	const char *arg;	/* the argument it came from, as given */
	const struct cli_opt *opt;	/* the option, or NULL */
	int optind;		/* after CLI_END: the first operand */
	enum cli_error error;
	char err[160];		/* after CLI_ERROR: `unknown argument "--x"`,
				 * `--x needs a value`, `--x takes no value` */
};

/* Start parsing argv[1..argc-1] (argv[0] is the command's name) against
 * cmd's options. Options stop at the first operand ("-" is one) or "--". */
void cli_begin(struct cli_parser *p, const struct cli_cmd *cmd, int argc,
    char **argv);

/* The key of the next option (its value in p->value), CLI_HELP, CLI_END or
 * CLI_ERROR. Long options must be given whole: no abbreviations. */
int cli_next(struct cli_parser *p);

/* The whole help of cmd: usage line, summary, about, options, footer. */
void cli_usage(const struct cli_cmd *cmd, FILE *f);

/* A usage error on stderr: "meshinject NAME: MESSAGE", the usage line and
 * where the help is. Returns 2, the exit status of bad arguments. */
int cli_fail(const struct cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cli_fail for the option or operand cli_next stopped at: p->err after
 * CLI_ERROR, `unexpected argument "X"` after CLI_END with operands left
 * (call only then). Returns 2. */
int cli_fail_parse(const struct cli_parser *p);

#endif
