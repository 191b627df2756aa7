"""The command line both binaries share: --help, --version, and bad
configuration refused with a message that names what is wrong."""
import os

from harness import AGENT, COLLECTOR, Suite, run

s = Suite("cli")


@s.test
def help_and_version(t):
    for b, name in ((AGENT, "tally-agent"), (COLLECTOR, "tally-collector")):
        code, out, _ = run([b, "--help"])
        assert code == 0, code
        assert "Usage:" in out and "--listen" in out and "TALLY_LOG_LEVEL" in out, out
        code, out, _ = run([b, "--version"])
        assert code == 0 and out.startswith(name + " "), out


def test_refused(argv, env, want):
    code, _, err = run(argv, env=env)
    assert code == 2, (argv, code, err)
    assert want in err, (want, err)


@s.test
def bad_configuration(t):
    conf = os.path.join(t.tmp, "agent.conf")
    with open(conf, "w") as f:
        f.write("[buffer]\nmax_bytes = 10 apples\n")
    test_refused([AGENT, "-c", conf], None,
                 "config file %s line 2: buffer.max_bytes = '10 apples' is not valid" % conf)
    with open(conf, "w") as f:
        f.write("listen = 127.0.0.1:7481\nbogus = 1\n")
    test_refused([AGENT, "-c", conf], None, "line 2: unknown key 'bogus'")
    test_refused([AGENT, "--listen", "nowhere"], None, "--listen: listen = 'nowhere'")
    test_refused([COLLECTOR], {"TALLY_HTTP_THREADS": "0"},
                 "TALLY_HTTP_THREADS: http.threads = '0' is out of range")
    test_refused([COLLECTOR, "--frobnicate"], None, "unknown option '--frobnicate'")
    test_refused([COLLECTOR, "-c", "/nonexistent/c.conf"], None, "cannot open")


if __name__ == "__main__":
    s.main()
