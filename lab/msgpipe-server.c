/*
 * msgpipe-server: a tiny Windows named-pipe server for the relaykit test lab.
 *
 *   msgpipe-server.exe <pipe-name> [--busy-hold-ms N] [--byte]
 *
 * <pipe-name> is either a full name (\\.\pipe\foo) or a bare one (foo).
 *
 * It owns exactly one pipe instance and serves one client at a time, reusing
 * the instance (DisconnectNamedPipe + ConnectNamedPipe), so the pipe name
 * never disappears between clients and a second concurrent client sees the
 * pipe as busy.
 *
 * Lines on stdout (flushed one by one, so a parent can follow them):
 *   ready          the pipe instance exists; clients may connect
 *   connected      a client connected
 *   msg <length>   a message (byte mode: a chunk) was read; it is echoed back
 *   zero           a zero-length read; the 4 bytes "ZERO" are sent back
 *   disconnected   the client went away; waiting for the next one
 *   holding <ms>   --busy-hold-ms: holding the first client without reading
 *   released       --busy-hold-ms: the held client was disconnected
 *
 * Default mode is PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE; --byte selects
 * PIPE_TYPE_BYTE. With --busy-hold-ms N the pipe allows a single instance;
 * the first client is held for N ms (never read), then disconnected, and every
 * later client is served normally. Tests use it to see clients retry on
 * ERROR_PIPE_BUSY.
 *
 * Errors go to stderr as "error <what> <GetLastError()>", exit code 1.
 */
#include <windows.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE 65536

static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static void die(const char *what)
{
    fprintf(stderr, "error %s %lu\n", what, (unsigned long)GetLastError());
    exit(1);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: msgpipe-server.exe <pipe-name> [--busy-hold-ms N] [--byte]\n");
    exit(2);
}

static int write_all(HANDLE pipe, const char *data, DWORD len)
{
    DWORD written = 0;
    /* In message mode one WriteFile is one message, so never split it. */
    if (!WriteFile(pipe, data, len, &written, NULL) || written != len)
        return 0;
    return 1;
}

/*
 * Read one message into *buf (growing it as needed). In message mode a
 * message larger than the buffer comes back as ERROR_MORE_DATA; keep reading
 * until the rest has arrived. Returns 0 when the client is gone.
 */
static int read_message(HANDLE pipe, char **buf, DWORD *cap, DWORD *len)
{
    DWORD got = 0;
    *len = 0;
    for (;;) {
        if (ReadFile(pipe, *buf + *len, *cap - *len, &got, NULL)) {
            *len += got;
            return 1;
        }
        if (GetLastError() != ERROR_MORE_DATA)
            return 0;
        *len += got;
        if (*len == *cap) {
            char *bigger = realloc(*buf, (size_t)*cap * 2);
            if (!bigger)
                die("realloc");
            *buf = bigger;
            *cap *= 2;
        }
    }
}

int main(int argc, char **argv)
{
    const char *name = NULL;
    long hold_ms = -1;
    int byte_mode = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--busy-hold-ms") && i + 1 < argc)
            hold_ms = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--byte"))
            byte_mode = 1;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            usage();
    }
    if (!name || hold_ms < -1)
        usage();

    char full[512];
    if (!strncmp(name, "\\\\.\\pipe\\", 9))
        snprintf(full, sizeof full, "%s", name);
    else
        snprintf(full, sizeof full, "\\\\.\\pipe\\%s", name);

    DWORD mode = byte_mode ? (PIPE_TYPE_BYTE | PIPE_READMODE_BYTE)
                           : (PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE);
    DWORD instances = hold_ms >= 0 ? 1 : PIPE_UNLIMITED_INSTANCES;
    HANDLE pipe = CreateNamedPipeA(full, PIPE_ACCESS_DUPLEX, mode | PIPE_WAIT,
                                   instances, BUF_SIZE, BUF_SIZE, 0, NULL);
    if (pipe == INVALID_HANDLE_VALUE)
        die("CreateNamedPipe");
    say("ready");

    DWORD cap = BUF_SIZE, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        die("malloc");

    for (;;) {
        /* ERROR_PIPE_CONNECTED: the client came between Create and Connect. */
        if (!ConnectNamedPipe(pipe, NULL) && GetLastError() != ERROR_PIPE_CONNECTED)
            die("ConnectNamedPipe");
        say("connected");

        if (hold_ms >= 0) {
            say("holding %ld", hold_ms);
            Sleep((DWORD)hold_ms);
            DisconnectNamedPipe(pipe);
            say("released");
            hold_ms = -1; /* only the first client is held */
            continue;
        }

        while (read_message(pipe, &buf, &cap, &len)) {
            if (len == 0) {
                say("zero");
                if (!write_all(pipe, "ZERO", 4))
                    break;
            } else {
                say("msg %lu", (unsigned long)len);
                if (!write_all(pipe, buf, len))
                    break;
            }
        }
        /* The read failed: the client is gone (ERROR_BROKEN_PIPE). */
        DisconnectNamedPipe(pipe);
        say("disconnected");
    }
}
