/*
 * err.h - the one error enum of Tally.
 *
 * Every fallible function in shared/, agent/ and collector/ returns an
 * int that is TLY_OK (0) or one of these codes.  Detail for the operator
 * travels separately (a message buffer or a log line); the code says only
 * what kind of failure it was, so that callers can map it to an HTTP status
 * or an exit code.
 */
#ifndef TALLY_ERR_H
#define TALLY_ERR_H

enum tly_err {
	TLY_OK = 0,
	TLY_ENOMEM,	/* an allocation failed */
	TLY_EINVAL,	/* bad input: syntax, type, missing field */
	TLY_ERANGE,	/* a value out of its allowed range, a buffer too small */
	TLY_EIO,	/* an operating-system call failed */
	TLY_EDB,	/* the database refused or failed */
	TLY_ECORRUPT,	/* data that should be well formed is not (zlib, wire) */
	TLY_ETOOBIG,	/* input over a size cap, a decompression bomb */
	TLY_EVERSION,	/* a format or schema version we do not speak */
	TLY_ENOTFOUND,	/* no such object */
	TLY_EEXIST,	/* the object exists already (often not an error) */
	TLY_EAUTH,	/* bad or missing credentials */
	TLY_EFORBID,	/* credentials good, but not for this */
	TLY_EFULL,	/* a bounded store is full */
	TLY_ECONFIG,	/* bad configuration */
	TLY_ENET,	/* a network peer failed or could not be reached */
	TLY_EBUSY,	/* try again later */
	TLY_ELIB,	/* a library failed in a way not covered above */
	TLY_ERR_COUNT	/* number of codes; not an error */
};

/* A short lowercase description of code; never NULL, even for bad codes. */
const char *tly_strerror(int code);

#endif
