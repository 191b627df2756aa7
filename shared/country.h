/*
 * country.h - ISO 3166-1 alpha-2 country codes, the ones Lago accepts
 * for a customer's country and shipping country (its CountryCodeValidator).
 */
#ifndef TALLY_COUNTRY_H
#define TALLY_COUNTRY_H

/*
 * 1 if alpha2 is one of the 249 assigned ISO 3166-1 alpha-2 codes ("FR"),
 * else 0 (also for NULL).  Upper case only: Lago upcases a country before
 * it checks it, and so must the caller.
 */
int country_valid(const char *alpha2);

#endif
