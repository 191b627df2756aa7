/*
 * main.c - tally-agent: flags, configuration and subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "agent_conf.h"
#include "cli.h"
#include "err.h"

static const struct cli_prog agent_prog = {
	.name = "tally-agent",
	.usage =
	"  tally-agent [-c FILE] [--id ID] [--data-dir DIR] [--listen HOST:PORT]\n"
	"              [--collector URL | --mqtt URI] [--token TOKEN]\n"
	"  tally-agent [--listen HOST:PORT] send --code C --subscription S\n"
	"              [--transaction-id T] [--timestamp TS] [KEY=VALUE ...]\n"
	"  tally-agent [--data-dir DIR] status\n",
	.keys = agent_keys,
	.nkeys = AK_COUNT,
	.log_level_key = AK_LOG_LEVEL,
};

int main(int argc, char **argv)
{
	struct conf c;
	int argi, rc = 0;

	cli_start(&agent_prog, &c, argc, argv, &argi);
	if (argi < argc)
		cli_die(&agent_prog, 2, "unknown command '%s' (see --help)",
			argv[argi]);
	cli_die(&agent_prog, 1, "configuration is valid, but the agent "
		"daemon is not built yet");
	conf_free(&c);
	return rc;
}
