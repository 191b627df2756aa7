/*
 * err.c - descriptions of the error codes in err.h.
 */
#include "err.h"

static const char *const err_text[TLY_ERR_COUNT] = {
	[TLY_OK] = "success",
	[TLY_ENOMEM] = "out of memory",
	[TLY_EINVAL] = "invalid input",
	[TLY_ERANGE] = "value out of range",
	[TLY_EIO] = "input/output error",
	[TLY_EDB] = "database error",
	[TLY_ECORRUPT] = "corrupt data",
	[TLY_ETOOBIG] = "input too large",
	[TLY_EVERSION] = "unsupported version",
	[TLY_ENOTFOUND] = "not found",
	[TLY_EEXIST] = "already exists",
	[TLY_EAUTH] = "authentication failed",
	[TLY_EFORBID] = "not allowed",
	[TLY_EFULL] = "storage full",
	[TLY_ECONFIG] = "bad configuration",
	[TLY_ENET] = "network error",
	[TLY_EBUSY] = "busy, try again",
	[TLY_ELIB] = "library error",
};

const char *tly_strerror(int code)
{
	if (code < 0 || code >= TLY_ERR_COUNT || !err_text[code])
		return "unknown error";
	return err_text[code];
}
