/* install.h - `meshinject install`: the plain-manifest install, printed with
 * fresh certificates (webhook/cmd_install.c). */
#ifndef MESHINJECT_INSTALL_H
#define MESHINJECT_INSTALL_H

/* manifests/meshinject.yaml, the chart rendered for plain installs
 * (certificates.source=secret, caBundle placeholder), compiled in by make
 * (build/gen/install_manifests.c). NUL-terminated; static, never freed. */
extern const char install_manifests_yaml[];

/* The subcommand: argv[0] is "install". Returns the exit status. */
int cmd_install(int argc, char **argv);

#endif
