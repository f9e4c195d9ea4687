// HikariBench: HikariCP 2.7.9 + pgjdbc under the same load as connpool_pool_bench, for bench/run.
//
//   java -cp <classes>:HikariCP.jar:postgresql.jar:slf4j-api.jar:slf4j-nop.jar HikariBench \
//        --url jdbc:postgresql://127.0.0.1:PORT/postgres --user postgres --password PW \
//        --clients 8 --pool-size 8 --seconds 2 --warmup 2 [--mode select|acquire] [--json OUT]
//
// N threads loop: getConnection -> prepareStatement("SELECT 1") -> executeQuery -> read the
// value -> close everything (the connection goes back to the pool). --mode acquire: only
// getConnection + close. The pool is fixed (minimumIdle = maximumPoolSize) and filled before
// measuring; a warm-up phase with the same threads lets the JIT compile the hot path first
// (its figures are dropped). Writes a JSON list like connpool_pool_bench's.
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.io.FileWriter;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.Arrays;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;

public final class HikariBench {
    static final int SAMPLE_CAP = 1 << 20;

    static final class Worker extends Thread {
        final HikariDataSource ds;
        final boolean acquireOnly;
        final CyclicBarrier barrier;
        final AtomicReference<Throwable> error;
        volatile long deadline;
        long[] samples = new long[1024];
        int nSamples;
        long ops;

        Worker(HikariDataSource ds, boolean acquireOnly, CyclicBarrier barrier, AtomicReference<Throwable> error) {
            this.ds = ds;
            this.acquireOnly = acquireOnly;
            this.barrier = barrier;
            this.error = error;
            setDaemon(true);
        }

        void once() throws Exception {
            try (Connection c = ds.getConnection()) {
                if (acquireOnly) return;
                try (PreparedStatement ps = c.prepareStatement("SELECT 1"); ResultSet rs = ps.executeQuery()) {
                    if (!rs.next() || rs.getInt(1) != 1) throw new IllegalStateException("SELECT 1 did not return 1");
                }
            }
        }

        @Override public void run() {
            try {
                for (int phase = 0; phase < 2; phase++) { // 0: warm-up (dropped), 1: measured
                    barrier.await();
                    barrier.await(); // the main thread sets the deadline between the two
                    nSamples = 0;
                    ops = 0;
                    final long end = deadline;
                    for (;;) {
                        long t0 = System.nanoTime();
                        if (t0 >= end) break;
                        once();
                        long t1 = System.nanoTime();
                        if (t1 > end) break;
                        if (nSamples < SAMPLE_CAP) {
                            if (nSamples == samples.length) samples = Arrays.copyOf(samples, samples.length * 2);
                            samples[nSamples++] = t1 - t0;
                        }
                        ops++;
                    }
                }
                barrier.await();
            } catch (Throwable t) {
                error.compareAndSet(null, t);
                barrier.reset();
            }
        }
    }

    public static void main(String[] argv) throws Exception {
        String url = null, user = "postgres", password = "", mode = "select", json = null, impl = null;
        int clients = 1, poolSize = 0;
        double seconds = 2, warmup = 2;
        for (int i = 0; i + 1 < argv.length; i += 2) {
            String k = argv[i], v = argv[i + 1];
            switch (k) {
                case "--url": url = v; break;
                case "--user": user = v; break;
                case "--password": password = v; break;
                case "--clients": clients = Integer.parseInt(v); break;
                case "--pool-size": poolSize = Integer.parseInt(v); break;
                case "--seconds": seconds = Double.parseDouble(v); break;
                case "--warmup": warmup = Double.parseDouble(v); break;
                case "--mode": mode = v; break;
                case "--impl": impl = v; break;
                case "--json": json = v; break;
                default: System.err.println("HikariBench: unknown option " + k); System.exit(2);
            }
        }
        if (url == null || !(mode.equals("select") || mode.equals("acquire"))) {
            System.err.println("usage: HikariBench --url JDBC_URL [--user U] [--password P] [--clients N] "
                    + "[--pool-size P] [--seconds S] [--warmup S] [--mode select|acquire] [--json OUT]");
            System.exit(2);
        }
        if (poolSize <= 0) poolSize = Math.min(clients, 16);
        if (impl == null) impl = mode.equals("acquire") ? "HikariCP 2.7.9, acquire+release only" : "HikariCP 2.7.9";

        HikariConfig cfg = new HikariConfig();
        cfg.setJdbcUrl(url);
        cfg.setUsername(user);
        cfg.setPassword(password);
        cfg.setMaximumPoolSize(poolSize);
        cfg.setMinimumIdle(poolSize);
        cfg.setConnectionTimeout(30_000);
        cfg.setPoolName("bench");
        try (HikariDataSource ds = new HikariDataSource(cfg)) {
            long fillDeadline = System.nanoTime() + 30_000_000_000L;
            while (ds.getHikariPoolMXBean().getTotalConnections() < poolSize) {
                if (System.nanoTime() > fillDeadline) throw new IllegalStateException("pool did not fill in 30 s");
                Thread.sleep(10);
            }
            AtomicReference<Throwable> error = new AtomicReference<>();
            CyclicBarrier barrier = new CyclicBarrier(clients + 1);
            Worker[] workers = new Worker[clients];
            for (int i = 0; i < clients; i++) {
                workers[i] = new Worker(ds, mode.equals("acquire"), barrier, error);
                workers[i].start();
            }
            long start = 0, end = 0;
            for (int phase = 0; phase < 2; phase++) {
                barrier.await();
                start = System.nanoTime();
                end = start + (long) ((phase == 0 ? warmup : seconds) * 1e9);
                for (Worker w : workers) w.deadline = end;
                barrier.await();
            }
            barrier.await();
            if (error.get() != null) throw new RuntimeException(error.get());
            long ops = 0;
            int n = 0;
            for (Worker w : workers) { ops += w.ops; n += w.nSamples; }
            long[] all = new long[n];
            int k = 0;
            for (Worker w : workers) { System.arraycopy(w.samples, 0, all, k, w.nSamples); k += w.nSamples; }
            Arrays.sort(all);
            double window = (end - start) / 1e9;
            double p50 = n > 0 ? all[Math.min(n - 1, (int) (0.50 * n))] / 1000.0 : 0;
            double p99 = n > 0 ? all[Math.min(n - 1, (int) (0.99 * n))] / 1000.0 : 0;
            double rate = ops / window;
            System.err.printf("HikariBench: %s, %d clients, pool %d: %.0f ops/s, p50 %.1f us, p99 %.1f us%n",
                    impl, clients, poolSize, rate, p50, p99);
            if (json != null) {
                try (FileWriter f = new FileWriter(json)) {
                    f.write(String.format(java.util.Locale.ROOT,
                            "[{\"impl\": \"%s\", \"clients\": %d, \"pool_size\": %d, \"ops\": %d, "
                                    + "\"ops_per_sec\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"seconds\": %.3f}]%n",
                            impl, clients, poolSize, ops, rate, p50, p99, window));
                }
            }
        }
    }
}
