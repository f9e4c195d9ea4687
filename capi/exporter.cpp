// connpool_exporter_*: the embedded HTTP exporter as C sees it. An exporter is a handle of
// the capi handle registry (HandleKind::exporter), so a double stop or a made-up value is
// refused, never dereferenced. Exporters still running when the process exits are stopped by
// a static destructor, before the registries their threads read are gone.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/fork_guard.hpp"
#include "exporter_server.hpp"
#include "handles.hpp"

using namespace connpool;
using namespace connpool::capi;

namespace {

struct ExporterObject {
    std::unique_ptr<ExporterServer> server;
    uint64_t fork_generation = 0;  // of the process whose threads serve it
};

struct RunningExporter {
    HandleRegistry::Token token;
    uint64_t fork_generation;
};

// The exporters not stopped yet. Never destroyed: a stop may come from another static
// destructor after the one below has run.
struct Running {
    std::mutex mutex;
    std::vector<RunningExporter> exporters;
};
Running &running() {
    static auto *list = new Running();
    return *list;
}

void forget_running(HandleRegistry::Token token) {
    Running &list = running();
    const std::lock_guard lock(list.mutex);
    std::erase_if(list.exporters, [&](const RunningExporter &e) { return e.token == token; });
}

// The parent's exporters retired in a forked child: their state is not the child's to
// destroy (the reactor is shared with the parent), so it is kept here, reachable, for good.
void keep_abandoned(std::unique_ptr<ExporterObject> object) {
    static auto *abandoned = new std::vector<std::unique_ptr<ExporterObject>>();
    static auto *mutex = new std::mutex();
    const std::lock_guard lock(*mutex);
    abandoned->push_back(std::move(object));
}

// Stops a retired exporter. In a child after fork() its threads do not exist: only forget it.
void stop_exporter(std::unique_ptr<ExporterObject> object) {
    if (object->fork_generation != fork_generation()) {
        object->server->abandon_after_fork();
        keep_abandoned(std::move(object));
        return;
    }
    object->server->stop();
}

connpool_status stop_token(HandleRegistry::Token token) {
    void *retired = HandleRegistry::instance().retire(token, HandleKind::exporter, true);
    if (retired == nullptr) return misuse(CONNPOOL_ERR_INVALID_HANDLE);
    forget_running(token);
    stop_exporter(std::unique_ptr<ExporterObject>(static_cast<ExporterObject *>(retired)));
    return CONNPOOL_OK;
}

// Its destructor stops every exporter still running at exit. Constructed on the first start,
// after the singletons the exporter threads use, so it is destroyed before them.
struct StopAtExit {
    uint64_t armed_in = fork_generation();
    StopAtExit() = default;
    StopAtExit(const StopAtExit &) = delete;
    StopAtExit &operator=(const StopAtExit &) = delete;
    ~StopAtExit() {
        std::vector<RunningExporter> left;
        {
            Running &list = running();
            // In a forked child the mutex may have been copied held by a thread that is not
            // there: never wait for it then.
            std::unique_lock lock(list.mutex, std::defer_lock);
            if (armed_in == fork_generation()) {
                lock.lock();
            } else if (!lock.try_lock()) {
                return;
            }
            left.swap(list.exporters);
        }
        for (const RunningExporter &exporter : left) {
            void *retired =
                HandleRegistry::instance().retire(exporter.token, HandleKind::exporter, true);
            if (retired != nullptr) {
                stop_exporter(
                    std::unique_ptr<ExporterObject>(static_cast<ExporterObject *>(retired)));
            }
        }
    }
};

void stop_running_exporters_at_exit() {
    HandleRegistry::instance();
    // The registry and the health/metrics code are reached through the public functions; one
    // call constructs whatever static state they keep before StopAtExit exists.
    char *names = nullptr;
    if (connpool_registry_names(&names, nullptr) == CONNPOOL_OK) connpool_string_free(names);
    static StopAtExit stop_at_exit;
}

}  // namespace

extern "C" {

CONNPOOL_API connpool_status connpool_exporter_start(connpool_exporter **out, const char *address,
                                                     const char *admin_token,
                                                     connpool_error **err) {
    static const char *const kFunction = "connpool_exporter_start";
    if (out == nullptr) return null_argument(err, kFunction, "out");
    *out = nullptr;
    return guarded(err, [&] {
        install_fork_guard();
        stop_running_exporters_at_exit();
        Error error;
        auto object = std::make_unique<ExporterObject>();
        object->fork_generation = fork_generation();
        object->server = ExporterServer::start(address != nullptr ? address : "127.0.0.1:0",
                                               admin_token != nullptr ? admin_token : "", error);
        if (!object->server) return misuse(fail(err, error));
        const uint64_t generation = object->fork_generation;
        Running &list = running();
        const std::lock_guard lock(list.mutex);
        list.exporters.reserve(list.exporters.size() + 1);
        connpool_exporter *handle =
            publish<connpool_exporter>(HandleKind::exporter, std::move(object));
        list.exporters.push_back({token_of(handle), generation});
        *out = handle;
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_exporter_port(int32_t *out_port, connpool_exporter *exporter,
                                                    connpool_error **err) {
    static const char *const kFunction = "connpool_exporter_port";
    if (out_port == nullptr) return null_argument(err, kFunction, "out_port");
    *out_port = 0;
    if (exporter == nullptr) return null_argument(err, kFunction, "exporter");
    return guarded(err, [&] {
        auto ref = HandleRegistry::instance().lookup(token_of(exporter), HandleKind::exporter);
        if (!ref) return stale_handle(err, kFunction, "exporter");
        *out_port = ref.get<ExporterObject>()->server->port();
        return CONNPOOL_OK;
    });
}

CONNPOOL_API connpool_status connpool_exporter_stop(connpool_exporter *exporter) {
    if (exporter == nullptr) return CONNPOOL_OK;
    return guarded(nullptr, [&] { return stop_token(token_of(exporter)); });
}

}  // extern "C"
