/*
 * ship.c - the calls every transport answers the same way (see ship.h):
 * each one embeds struct ship first and fills its ops.
 */
#include <stddef.h>

#include "ship.h"

void ship_stop(struct ship **sp)
{
	if (!sp || !*sp)
		return;
	(*sp)->ops->stop(*sp);
	*sp = NULL;
}

void ship_get_status(struct ship *s, struct ship_status *st)
{
	s->ops->status(s, st);
}
