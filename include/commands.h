/* commands.h - the subcommands of the meshinject binary. Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns the
 * process exit status: 0, 1 when it failed, 2 for bad arguments. Each has
 * its flags, summary and help in a `struct cli_cmd` (cli.h), which
 * `meshinject --help` lists. */
#ifndef MESHINJECT_COMMANDS_H
#define MESHINJECT_COMMANDS_H

#include "cli.h"

int cmd_serve(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_redirect(int argc, char **argv);
int cmd_version(int argc, char **argv);
/* offline.c: the webhook's decision applied to manifests, no cluster. */
int cmd_inject(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_explain(int argc, char **argv);
/* report.c: how far a rollout has come, from cluster dumps. */
int cmd_report(int argc, char **argv);
/* cmd_certs.c: a CA and a serving certificate for the webhook's Service. */
int cmd_certs(int argc, char **argv);
/* cmd_policy.c: the stages as ValidatingAdmissionPolicies. */
int cmd_policy(int argc, char **argv);

extern const struct cli_cmd cmd_serve_cli, cmd_inject_cli, cmd_check_cli,
    cmd_explain_cli, cmd_report_cli, cmd_certs_cli, cmd_install_cli,
    cmd_policy_cli, cmd_config_cli, cmd_redirect_cli, cmd_version_cli;

#endif
