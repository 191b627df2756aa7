/*
 * agents.c - agent registration and token checks (see agents.h).
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <string.h>

#include "agents.h"
#include "err.h"
#include "log.h"
#include "util.h"

#define KEY_ID_HEX 16
#define SECRET_HEX 64

int agents_valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > WIRE_AGENT_ID_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];

		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return 0;
	}
	return 1;
}

/* SHA-256 of token as 64 hex digits. */
static int token_hash(const char *token, char out[SECRET_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(token, strlen(token), md, &len, EVP_sha256(), NULL) ||
	    len != 32)
		return TLY_ELIB;
	util_hex(md, len, out);
	return TLY_OK;
}

int agents_add(struct store_conn *c, const char *id,
	       char token[AGENT_TOKEN_LEN])
{
	static const char *const sql =
		"INSERT INTO agents (id, key_id, token_hash, created_at) "
		"VALUES (?, ?, ?, ?)";
	unsigned char raw[KEY_ID_HEX / 2 + SECRET_HEX / 2];
	char hex[sizeof(raw) * 2 + 1], key_id[KEY_ID_HEX + 1];
	char hash[SECRET_HEX + 1];
	struct store_stmt *st = NULL;
	int rc;

	if (!agents_valid_id(id))
		return TLY_EINVAL;
	rc = util_random(raw, sizeof(raw));
	if (rc != TLY_OK)
		return rc;
	util_hex(raw, sizeof(raw), hex);
	snprintf(token, AGENT_TOKEN_LEN, "tly_%s", hex);
	memcpy(key_id, hex, KEY_ID_HEX);
	key_id[KEY_ID_HEX] = '\0';
	rc = token_hash(token, hash);
	if (rc == TLY_OK)
		rc = store_prepare(c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, key_id);
	store_bind_text(st, 3, hash);
	store_bind_i64(st, 4, util_now_ms() / 1000);
	return store_run(st);
}

int agents_revoke(struct store_conn *c, const char *id)
{
	static const char *const sql =
		"UPDATE agents SET revoked_at = ? WHERE id = ? "
		"AND revoked_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_i64(st, 1, util_now_ms() / 1000);
	store_bind_text(st, 2, id);
	rc = store_run(st);
	if (rc == TLY_OK && store_changes(c) == 0)
		rc = TLY_ENOTFOUND;
	return rc;
}

int agents_list(struct store_conn *c, FILE *out)
{
	static const char *const sql =
		"SELECT id, revoked_at, batches, events_received, last_seq "
		"FROM agents ORDER BY id";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	fprintf(out, "%-32s %-8s %10s %14s %10s\n", "AGENT", "STATE",
		"BATCHES", "EVENTS", "LAST_SEQ");
	while ((rc = store_step(st)) == STORE_ROW)
		fprintf(out, "%-32s %-8s %10lld %14lld %10lld\n",
			store_col_text(st, 0),
			store_col_null(st, 1) ? "active" : "revoked",
			(long long)store_col_i64(st, 2),
			(long long)store_col_i64(st, 3),
			(long long)store_col_i64(st, 4));
	store_reset(st);
	return rc == STORE_DONE ? TLY_OK : rc;
}

int agents_auth(struct store_conn *c, const char *token,
		char id_out[WIRE_AGENT_ID_MAX + 1])
{
	static const char *const sql =
		"SELECT id, token_hash FROM agents "
		"WHERE key_id = ? AND revoked_at IS NULL";
	char key_id[KEY_ID_HEX + 1], hash[SECRET_HEX + 1];
	struct store_stmt *st = NULL;
	int rc, ok = 0;

	if (!token || strlen(token) != AGENT_TOKEN_LEN - 1 ||
	    strncmp(token, "tly_", 4) != 0)
		return TLY_EAUTH;
	memcpy(key_id, token + 4, KEY_ID_HEX);
	key_id[KEY_ID_HEX] = '\0';
	rc = token_hash(token, hash);
	if (rc == TLY_OK)
		rc = store_prepare(c, sql, &st);
	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, key_id);
	if (store_step(st) == STORE_ROW) {
		const char *want = store_col_text(st, 1);

		ok = want && strlen(want) == SECRET_HEX &&
		     CRYPTO_memcmp(want, hash, SECRET_HEX) == 0;
		if (ok)
			snprintf(id_out, WIRE_AGENT_ID_MAX + 1, "%s",
				 store_col_text(st, 0));
	}
	store_reset(st);
	return ok ? TLY_OK : TLY_EAUTH;
}

int agents_live(struct store_conn *c, const char *id)
{
	static const char *const sql =
		"SELECT 1 FROM agents WHERE id = ? AND revoked_at IS NULL";
	struct store_stmt *st = NULL;
	int rc = store_prepare(c, sql, &st);

	if (rc != TLY_OK)
		return rc;
	store_bind_text(st, 1, id);
	rc = store_step(st);
	store_reset(st);
	if (rc == STORE_ROW)
		return TLY_OK;
	return rc == STORE_DONE ? TLY_EAUTH : rc;
}
