/*
 * rssfloor.c - the resident set the agent cannot go below on this
 * machine: a program that maps the agent's shared libraries (it is
 * linked with the same list, every one kept), calls curl_global_init as
 * the agent does at start, and does nothing else.  What the agent adds
 * above it is its own; the floor is Debian's builds of those libraries
 * (libcurl alone brings some thirty, with OpenSSL initialised at start).
 * Prints one JSON line: VmRSS and RssAnon in KiB.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long status_kb(const char *field)
{
	char line[256];
	size_t n = strlen(field);
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (kb < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			kb = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return kb;
}

int main(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "rssfloor: curl_global_init failed\n");
		return 1;
	}
	printf("{\"rss_kb\": %ld, \"anon_kb\": %ld}\n", status_kb("VmRSS"),
	       status_kb("RssAnon"));
	curl_global_cleanup();
	return 0;
}
