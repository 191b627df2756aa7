/*
 * agents.h - the agents allowed to send batches, and their tokens.
 *
 * A token is "tly_" + 16 hex digits of key id + 64 hex digits of secret.
 * The key id is stored in the clear to find the agent; of the whole token
 * only a SHA-256 is stored, compared in constant time.  The token itself
 * is printed once, by agents_add, and never again.
 */
#ifndef TALLY_AGENTS_H
#define TALLY_AGENTS_H

#include <stdio.h>

#include "store.h"
#include "wire.h"

#define AGENT_TOKEN_LEN (4 + 16 + 64 + 1)

/*
 * Register agent id and write its new token to token.  TLY_EEXIST when
 * the id is taken (revoked ones too: ids are never reused), TLY_EINVAL
 * for a bad id (1..WIRE_AGENT_ID_MAX bytes of [A-Za-z0-9._-]).
 */
int agents_add(struct store_conn *c, const char *id,
	       char token[AGENT_TOKEN_LEN]);

/* Refuse the agent's token from now on.  TLY_ENOTFOUND if no such id. */
int agents_revoke(struct store_conn *c, const char *id);

/* One line per agent: id, state, batches, events, last seq. */
int agents_list(struct store_conn *c, FILE *out);

/*
 * Find the live agent whose token this is; its id goes to id_out.
 * TLY_OK, or TLY_EAUTH for an unknown, malformed or revoked token.
 */
int agents_auth(struct store_conn *c, const char *token,
		char id_out[WIRE_AGENT_ID_MAX + 1]);

/*
 * Whether id is registered and not revoked (MQTT, where the broker has
 * proven the id): TLY_OK, TLY_EAUTH when not, or the store's error.
 */
int agents_live(struct store_conn *c, const char *id);

/* True when id is a well-formed agent id. */
int agents_valid_id(const char *id);

#endif
