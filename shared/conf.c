/*
 * conf.c - configuration: defaults, libinih file, TALLY_* environment and
 * flags, checked against one table of keys (see conf.h).
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "err.h"

static int conf_fail(struct conf *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int conf_fail(struct conf *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return TLY_ECONFIG;
}

/* Parse a whole decimal integer; no sign for sizes and durations. */
static int parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!*s || isspace((unsigned char)*s))
		return TLY_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return TLY_EINVAL;
	*out = v;
	return TLY_OK;
}

/* "64MB" -> digits "64", unit "MB"; the unit scales the number. */
static int parse_scaled(const char *s, const char *const *units,
			const int64_t *scale, size_t nunits, int64_t *out)
{
	char digits[32];
	size_t n = 0;

	while (isdigit((unsigned char)s[n]) && n < sizeof(digits) - 1) {
		digits[n] = s[n];
		n++;
	}
	digits[n] = '\0';
	if (n == 0 || isdigit((unsigned char)s[n]))
		return TLY_EINVAL;
	for (size_t i = 0; i < nunits; i++) {
		int64_t v;

		if (strcasecmp(s + n, units[i]) != 0)
			continue;
		if (parse_i64(digits, &v) != TLY_OK || v > INT64_MAX / scale[i])
			return TLY_ERANGE;
		*out = v * scale[i];
		return TLY_OK;
	}
	return TLY_EINVAL;
}

static int parse_size(const char *s, int64_t *out)
{
	static const char *const u[] = {"", "b", "k", "kb", "kib", "m", "mb",
					"mib", "g", "gb", "gib", "t", "tb",
					"tib"};
	static const int64_t m[] = {1, 1, 1LL << 10, 1LL << 10, 1LL << 10,
				    1LL << 20, 1LL << 20, 1LL << 20,
				    1LL << 30, 1LL << 30, 1LL << 30,
				    1LL << 40, 1LL << 40, 1LL << 40};

	return parse_scaled(s, u, m, sizeof(m) / sizeof(m[0]), out);
}

static int parse_duration(const char *s, int64_t *out)
{
	static const char *const u[] = {"", "ms", "s", "m", "h", "d", "w"};
	static const int64_t m[] = {1000, 1, 1000, 60000, 3600000, 86400000,
				    604800000};

	return parse_scaled(s, u, m, sizeof(m) / sizeof(m[0]), out);
}

static int parse_bool(const char *s, int64_t *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return TLY_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return TLY_OK;
		}
	}
	return TLY_EINVAL;
}

static int parse_enum(const char *s, const char *choices)
{
	size_t n = strlen(s);
	const char *p = choices;

	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return TLY_OK;
		p = bar ? bar + 1 : NULL;
	}
	return TLY_EINVAL;
}

int conf_split_hostport(const char *s, char *host, size_t size, int *port)
{
	const char *colon, *h = s;
	size_t hlen;
	int64_t p;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return TLY_EINVAL;
		h = s + 1;
		hlen = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return TLY_EINVAL;
		hlen = (size_t)(colon - s);
	}
	if (hlen >= size || parse_i64(colon + 1, &p) != TLY_OK || p < 0 ||
	    p > 65535)
		return TLY_EINVAL;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return TLY_OK;
}

static const char *type_hint(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_INT: return "an integer";
	case CONF_BOOL: return "true or false";
	case CONF_SIZE: return "a size such as 4096, 64KB or 16MB";
	case CONF_DURATION: return "a duration such as 500ms, 30s, 5m or 7d";
	case CONF_ENUM: return k->choices;
	case CONF_HOSTPORT: return "HOST:PORT, [IPv6]:PORT or :PORT";
	case CONF_STR: break;
	}
	return "a string";
}

static int check_value(const struct conf_key *k, const char *val, int64_t *num)
{
	char host[256];
	int port, rc = TLY_OK;

	*num = 0;
	switch (k->type) {
	case CONF_STR: break;
	case CONF_INT: rc = parse_i64(val, num); break;
	case CONF_BOOL: rc = parse_bool(val, num); break;
	case CONF_SIZE: rc = parse_size(val, num); break;
	case CONF_DURATION: rc = parse_duration(val, num); break;
	case CONF_ENUM: rc = parse_enum(val, k->choices); break;
	case CONF_HOSTPORT:
		rc = conf_split_hostport(val, host, sizeof(host), &port);
		break;
	}
	if (rc == TLY_OK && (k->min || k->max) &&
	    (*num < k->min || *num > k->max))
		rc = TLY_ERANGE;
	return rc;
}

int conf_set(struct conf *c, size_t id, const char *val, const char *origin)
{
	const struct conf_key *k = &c->keys[id];
	int64_t num;
	char *copy;
	int rc;

	rc = check_value(k, val, &num);
	if (rc == TLY_ERANGE && (k->min || k->max))
		return conf_fail(c, "%s%s%s = '%s' is out of range [%" PRId64
				 ", %" PRId64 "]", origin, *origin ? ": " : "",
				 k->name, val, k->min, k->max);
	if (rc != TLY_OK)
		return conf_fail(c, "%s%s%s = '%s' is not valid: expected %s",
				 origin, *origin ? ": " : "", k->name, val,
				 type_hint(k));
	copy = strdup(val);
	if (!copy)
		return conf_fail(c, "%s: out of memory", origin);
	free(c->vals[id].text);
	c->vals[id].text = copy;
	c->vals[id].num = num;
	return TLY_OK;
}

int conf_find(const struct conf *c, const char *name)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

int conf_init(struct conf *c, const struct conf_key *keys, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->keys = keys;
	c->nkeys = n;
	c->vals = calloc(n, sizeof(*c->vals));
	if (!c->vals)
		return TLY_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (!keys[i].def)
			continue;
		if (conf_set(c, i, keys[i].def, "default") != TLY_OK)
			return TLY_ECONFIG;	/* a bug in the table */
	}
	return TLY_OK;
}

void conf_free(struct conf *c)
{
	if (!c || !c->vals)
		return;
	for (size_t i = 0; i < c->nkeys; i++)
		free(c->vals[i].text);
	free(c->vals);
	c->vals = NULL;
}

struct ini_ctx {
	struct conf *c;
	int failed;		/* the handler refused a line */
};

static int conf_ini_line(void *user, const char *section, const char *name,
		       const char *value)
{
	struct ini_ctx *ctx = user;
	struct conf *c = ctx->c;
	char key[256];
	int id;

	if (ctx->failed)
		return 0;
	if (section[0])
		snprintf(key, sizeof(key), "%s.%s", section, name);
	else
		snprintf(key, sizeof(key), "%s", name);
	id = conf_find(c, key);
	if (id < 0 || strcmp(key, "config") == 0) {
		conf_fail(c, "unknown key '%s'%s%s%s", name,
			  section[0] ? " in section [" : "", section,
			  section[0] ? "]" : "");
		ctx->failed = 1;
		return 0;
	}
	if (conf_set(c, (size_t)id, value, "") != TLY_OK) {
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

int conf_load_file(struct conf *c, const char *path)
{
	struct ini_ctx ctx = {c, 0};
	char why[CONF_ERR_MAX];
	int line;

	line = ini_parse(path, conf_ini_line, &ctx);
	if (line == 0)
		return TLY_OK;
	if (line < 0)
		return conf_fail(c, "config file %s: cannot open: %s", path,
				 strerror(errno ? errno : ENOENT));
	if (!ctx.failed)
		snprintf(c->err, sizeof(c->err), "syntax error (or a line "
			 "longer than 200 bytes)");
	snprintf(why, sizeof(why), "%s", c->err);
	return conf_fail(c, "config file %s line %d: %s", path, line, why);
}

void conf_env_name(const char *key, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "TALLY_");

	for (const char *p = key; *p && n + 1 < size; p++)
		buf[n++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	buf[n < size ? n : size - 1] = '\0';
}

int conf_load_env(struct conf *c)
{
	char name[128];

	for (size_t i = 0; i < c->nkeys; i++) {
		const char *v;

		conf_env_name(c->keys[i].name, name, sizeof(name));
		v = getenv(name);
		if (v && strcmp(c->keys[i].name, "config") != 0 &&
		    conf_set(c, i, v, name) != TLY_OK)
			return TLY_ECONFIG;
	}
	return TLY_OK;
}

static int is_config_flag(const char *a)
{
	return strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0;
}

/* Match "--flag" or "--flag=value"; *val gets the inline value. */
static int flag_match(const char *arg, const char *flag, const char **val)
{
	size_t n = strlen(flag);

	if (strncmp(arg, flag, n) != 0)
		return 0;
	if (arg[n] == '\0') {
		*val = NULL;
		return 1;
	}
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	return 0;
}

/* Find the end of the options and the config file among them. */
static int scan_flags(struct conf *c, int argc, char **argv, int *end,
		      const char **file)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;

		if (strcmp(a, "--") == 0 || a[0] != '-' || a[1] == '\0')
			break;
		if (is_config_flag(a) || flag_match(a, "--config", &v)) {
			if (!is_config_flag(a)) {
				*file = v;
			} else if (i + 1 < argc) {
				*file = argv[++i];
			} else {
				return conf_fail(c, "%s: needs a file", a);
			}
			continue;
		}
		/* Skip the value of a flag written "--flag value". */
		for (size_t k = 0; k < c->nkeys; k++) {
			const struct conf_key *key = &c->keys[k];

			if (key->flag && strcmp(a, key->flag) == 0 &&
			    key->type != CONF_BOOL) {
				i++;
				break;
			}
		}
	}
	*end = i < argc ? i : argc;
	return TLY_OK;
}

static int apply_flag(struct conf *c, int argc, char **argv, int *i)
{
	const char *a = argv[*i], *v = NULL;

	if (is_config_flag(a)) {
		(*i)++;
		return TLY_OK;
	}
	if (flag_match(a, "--config", &v))
		return TLY_OK;
	for (size_t k = 0; k < c->nkeys; k++) {
		const struct conf_key *key = &c->keys[k];

		if (!key->flag || !flag_match(a, key->flag, &v))
			continue;
		if (!v && key->type == CONF_BOOL)
			v = "true";
		if (!v && *i + 1 >= argc)
			return conf_fail(c, "%s: needs a value (%s)", a,
					 type_hint(key));
		if (!v)
			v = argv[++(*i)];
		return conf_set(c, k, v, key->flag);
	}
	return conf_fail(c, "unknown option '%s' (see --help)", a);
}

int conf_load(struct conf *c, int argc, char **argv, int *argi)
{
	const char *file = getenv("TALLY_CONFIG");
	int end = argc, rc;

	rc = scan_flags(c, argc, argv, &end, &file);
	if (rc != TLY_OK)
		return rc;
	if (file && *file) {
		c->path = file;
		rc = conf_load_file(c, file);
		if (rc != TLY_OK)
			return rc;
	}
	rc = conf_load_env(c);
	if (rc != TLY_OK)
		return rc;
	for (int i = 1; i < end; i++) {
		rc = apply_flag(c, argc, argv, &i);
		if (rc != TLY_OK)
			return rc;
	}
	if (end < argc && strcmp(argv[end], "--") == 0)
		end++;
	*argi = end;
	return TLY_OK;
}

const char *conf_str(const struct conf *c, size_t id)
{
	return id < c->nkeys ? c->vals[id].text : NULL;
}

int64_t conf_int(const struct conf *c, size_t id)
{
	return id < c->nkeys ? c->vals[id].num : 0;
}

bool conf_bool(const struct conf *c, size_t id)
{
	return conf_int(c, id) != 0;
}

void conf_usage(FILE *f, const struct conf *c)
{
	char env[128];

	fprintf(f, "Options (each also a config key and a TALLY_* variable):\n"
		   "  -c, --config FILE          config file (TALLY_CONFIG)\n");
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			fprintf(f, "\nConfig keys without a flag:\n");
		for (size_t i = 0; i < c->nkeys; i++) {
			const struct conf_key *k = &c->keys[i];
			char lhs[64];

			if ((k->flag == NULL) != (pass == 1))
				continue;
			conf_env_name(k->name, env, sizeof(env));
			snprintf(lhs, sizeof(lhs), "%s",
				 k->flag ? k->flag : k->name);
			fprintf(f, "  %-26s %s [%s%s; %s]\n", lhs, k->help,
				k->def ? "default " : "no default",
				k->def ? k->def : "", env);
		}
	}
}
