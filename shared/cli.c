/*
 * cli.c - shared start-up of tally-agent and tally-collector (see cli.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "log.h"

void cli_die(const struct cli_prog *p, int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", p->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void cli_help(const struct cli_prog *p, struct conf *c)
{
	printf("Usage:\n%s\n", p->usage);
	conf_usage(stdout, c);
	printf("\nFlags win over TALLY_* variables, which win over the "
	       "config file.\n");
}

void cli_start(const struct cli_prog *p, struct conf *c, int argc,
	       char **argv, int *argi)
{
	int lvl;

	if (conf_init(c, p->keys, p->nkeys) != TLY_OK)
		cli_die(p, 2, "cannot set up the configuration: %s",
			c->err[0] ? c->err : "out of memory");
	/* Only the options before a subcommand are ours to look at. */
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			cli_help(p, c);
			exit(0);
		}
		if (!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
			printf("%s %s\n", p->name, TALLY_VERSION);
			exit(0);
		}
	}
	if (conf_load(c, argc, argv, argi) != TLY_OK)
		cli_die(p, 2, "%s", c->err);
	lvl = log_level_parse(conf_str(c, (size_t)p->log_level_key));
	log_init(p->name, lvl < 0 ? LOG_INFO : (enum log_level)lvl);
}
