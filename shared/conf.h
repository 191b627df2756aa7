/*
 * conf.h - configuration from one table: defaults, file, environment, flags.
 *
 * Each program describes its settings once, as an array of struct conf_key.
 * A key "buffer.max_bytes" is
 *   - in the config file (libinih): [buffer] max_bytes = 64MB
 *     (a key without a dot sits before any section: data_dir = /var/lib/x)
 *   - in the environment: TALLY_BUFFER_MAX_BYTES=64MB
 *   - on the command line, when the key names a flag: --max-bytes 64MB
 * Later sources win: default < file < environment < flag.  The file is
 * named by -c FILE / --config FILE or TALLY_CONFIG.
 *
 * Every value is checked against its type when it is read: an unknown key
 * in the file, a bad value anywhere or an unknown flag is an error whose
 * message names the source (file and line, variable, or flag) and the key,
 * and says what was expected.  Nothing is half-applied: on error the caller
 * exits.
 *
 * Values are looked up by their index in the program's table (an enum kept
 * in the same order), so a lookup is an array access.
 */
#ifndef TALLY_CONF_H
#define TALLY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_ERR_MAX 512

enum conf_type {
	CONF_STR,
	CONF_INT,	/* decimal integer within [min, max] */
	CONF_BOOL,	/* true/false, yes/no, on/off, 1/0 */
	CONF_SIZE,	/* bytes: 4096, 64K, 64KB, 64KiB, 16M, 1G */
	CONF_DURATION,	/* milliseconds: 250ms, 30s, 5m, 2h, 7d; bare = s */
	CONF_ENUM,	/* one of `choices`, "http|mqtt" */
	CONF_HOSTPORT	/* HOST:PORT, [v6]:PORT or :PORT */
};

struct conf_key {
	const char *name;	/* "section.key" or "key" */
	const char *flag;	/* "--data-dir", or NULL for file/env only */
	enum conf_type type;
	const char *def;	/* default as text, or NULL for none */
	const char *help;	/* one line for --help */
	int64_t min, max;	/* bounds for INT, SIZE, DURATION (0,0: none) */
	const char *choices;	/* for ENUM */
};

struct conf_val {
	char *text;		/* the value as given, or NULL when unset */
	int64_t num;		/* INT, SIZE (bytes), DURATION (ms), BOOL */
};

struct conf {
	const struct conf_key *keys;
	size_t nkeys;
	struct conf_val *vals;
	const char *path;	/* the config file read, or NULL */
	char err[CONF_ERR_MAX];	/* why the last call failed */
};

/* Set up c with the defaults of keys[0..n).  TLY_ENOMEM or TLY_OK. */
int conf_init(struct conf *c, const struct conf_key *keys, size_t n);

/* Free the values; c can be conf_init'ed again.  NULL-safe. */
void conf_free(struct conf *c);

/*
 * Read everything in order: the file named by -c/--config (or
 * TALLY_CONFIG), the environment, then the flags in argv[1..].  Flags end
 * at the first argument that is not an option (a subcommand) or after
 * "--"; *argi receives its index (argc when none).  -h/--help and
 * -V/--version are not handled here: callers check them first.  Returns
 * TLY_OK or TLY_ECONFIG with c->err set.
 */
int conf_load(struct conf *c, int argc, char **argv, int *argi);

/* Read one config file.  TLY_ECONFIG with "FILE line N: ..." on error. */
int conf_load_file(struct conf *c, const char *path);

/* Apply every TALLY_* variable that names a key (others are ignored). */
int conf_load_env(struct conf *c);

/* Check and store one value for key index id; origin goes into errors. */
int conf_set(struct conf *c, size_t id, const char *val, const char *origin);

/* Index of the key with this name, or -1. */
int conf_find(const struct conf *c, const char *name);

const char *conf_str(const struct conf *c, size_t id);	/* NULL if unset */
int64_t conf_int(const struct conf *c, size_t id);
bool conf_bool(const struct conf *c, size_t id);

/* The environment variable for a key: "buffer.max_bytes" -> TALLY_BUFFER_MAX_BYTES. */
void conf_env_name(const char *key, char *buf, size_t size);

/* Print one line per flag, then the file/env keys, with defaults. */
void conf_usage(FILE *f, const struct conf *c);

/*
 * Split "host:port", "[::1]:port" or ":port" (host "" then).  Returns
 * TLY_OK or TLY_EINVAL.  host receives at most size-1 bytes.
 */
int conf_split_hostport(const char *s, char *host, size_t size, int *port);

#endif
