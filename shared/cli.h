/*
 * cli.h - the start-up steps both binaries share: --help and --version,
 * loading the configuration, and setting up the log from it.
 */
#ifndef TALLY_CLI_H
#define TALLY_CLI_H

#include "conf.h"

struct cli_prog {
	const char *name;		/* "tally-agent" */
	const char *usage;		/* synopsis lines, printed by --help */
	const struct conf_key *keys;
	size_t nkeys;
	int log_level_key;		/* index of log.level in keys */
};

/*
 * Handle -h/--help and -V/--version (exit 0), load defaults, file,
 * environment and flags into c, and start the log.  On a configuration
 * error print it and exit 2.  *argi receives the index of the first
 * argument after the options (the subcommand, if any).
 */
void cli_start(const struct cli_prog *p, struct conf *c, int argc,
	       char **argv, int *argi);

/* Print "NAME: message" to stderr and exit with code.  Never returns. */
void cli_die(const struct cli_prog *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#endif
