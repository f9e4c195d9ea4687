/*
 * The README's "Logging": route the library's log messages to the host's logging with
 * connpool_log_set_callback (here a callback that formats them with syslog-like levels into a
 * buffer the program then checks). CTest runs it against the test server
 * (examples.log_callback): it fails unless the pool's creation line arrives with its pool name
 * and level, and clearing the callback returns once that line has been delivered.
 *
 *   log_callback [CONNINFO]
 */
#define _POSIX_C_SOURCE 200809L

#include <connpool/connpool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* README:begin */
static const char *const level_names[] = {"trace", "debug", "info", "warn", "error", "critical"};

/* Called on the library's delivery thread, one message at a time, no pool lock held. */
static void to_my_log(void *user_data, int32_t level, const char *pool, const char *message) {
    FILE *out = user_data;
    fprintf(out, "connpool[%s] %s: %s\n", pool, level_names[level], message);
}

/* At start-up: every pool's messages at info and above (a slow host drops, never stalls). */
static int route_logs(FILE *out) {
    return connpool_log_set_callback(to_my_log, out, CONNPOOL_LOG_INFO, NULL) == CONNPOOL_OK;
}

/* At shutdown: returns once queued messages are delivered; `out` may then be closed. */
static void unroute_logs(void) {
    connpool_log_set_callback(NULL, NULL, CONNPOOL_LOG_OFF, NULL);
}
/* README:end */

int main(int argc, char **argv) {
    const char *conninfo = argc > 1 ? argv[1] : "host=/var/run/postgresql dbname=app";
    char buffer[4096] = {0};
    FILE *out = fmemopen(buffer, sizeof buffer - 1, "w");
    if (out == NULL || !route_logs(out)) {
        fprintf(stderr, "log_callback: could not set the callback\n");
        return 1;
    }
    connpool_options *options = NULL;
    connpool_pool *pool = NULL;
    connpool_error *err = NULL;
    connpool_options_new(&options, NULL);
    connpool_options_set(options, "name", "example", NULL);
    connpool_status st = connpool_pool_create(&pool, conninfo, options, &err);
    connpool_options_free(options);
    if (st != CONNPOOL_OK) {
        fprintf(stderr, "log_callback: %s\n", err ? connpool_error_message(err) : "");
        connpool_error_free(err);
        return 1;
    }
    unroute_logs();
    connpool_pool_free(pool);
    fclose(out);
    if (strstr(buffer, "connpool[example] info: pool created for ") == NULL) {
        fprintf(stderr, "log_callback: unexpected log output:\n%s\n", buffer);
        return 1;
    }
    printf("%s", buffer);
    return 0;
}
