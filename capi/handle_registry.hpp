// Generation-tagged handles for the C API.
//
// Every object the C API hands out (pool, lease, result, options) is represented by a 64-bit
// token, not by its address. A token names a cell in a process-wide table and carries the
// cell's generation; retiring a handle bumps the generation, so a stale token (double release,
// use after free, a made-up value) is recognised without ever touching freed memory. Cells are
// never freed, only recycled, which is what makes every lookup memory-safe.
//
// Tokens have bit 63 set: they are non-canonical addresses, so a caller that dereferences one
// crashes at once instead of corrupting memory, and Go's garbage collector never mistakes one
// for a heap pointer.
//
// A lookup takes a reference on the cell; retire() waits for references to drain before it
// returns the object, so an object is never destroyed while another thread is inside a call
// using it (e.g. a pool freed while threads wait in acquire).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

namespace connpool {

enum class HandleKind : uint8_t {
    options = 1,
    pool = 2,
    lease = 3,
    result = 4,
    acquire = 5,
    exporter = 6,
    group = 7,
    statement = 8,  // connpool_statement (multiplexed, capi/pool_exec.cpp)
};

namespace detail {
struct HandleCell {
    // generation (bits 63..32) | live (bit 31) | references (bits 30..0)
    std::atomic<uint64_t> word{0};
    std::atomic<void *> object{nullptr};
    std::atomic<HandleKind> kind{};  // read by lookups of stale tokens while reallocated
};
}  // namespace detail

class HandleRegistry {
  public:
    using Token = uint64_t;
    static constexpr uint32_t kNoCell = UINT32_MAX;

    static HandleRegistry &instance();

    // Reserves a cell for objects of `kind`: from the calling thread's cache of free cells
    // without locking, else under the registry mutex (may allocate). Throws std::bad_alloc
    // when the table is full or memory is exhausted.
    uint32_t allocate_cell(HandleKind kind);
    // Returns a cell that is not live to the free cells (the thread's cache first).
    void free_cell(uint32_t index);

    // Makes `object` reachable through the returned token. The cell must not be live.
    Token publish(uint32_t index, void *object);

    // Ends the current life of the cell named by `token` and returns its object once no other
    // thread holds a reference; nullptr if the token is stale, of another kind, or was already
    // retired (exactly one of two concurrent callers wins). With `recycle_cell` the cell also
    // goes back to the free list (for handles that own their cell, unlike leases).
    void *retire(Token token, HandleKind kind, bool recycle_cell);

    // A counted reference to a live object; empty if the token is not live.
    class Ref {
      public:
        Ref() = default;
        Ref(Ref &&other) noexcept : cell_(other.cell_), object_(other.object_) {
            other.cell_ = nullptr;
        }
        Ref(const Ref &) = delete;
        Ref &operator=(const Ref &) = delete;
        Ref &operator=(Ref &&) = delete;
        ~Ref();
        explicit operator bool() const { return object_ != nullptr; }
        template <class T>
        T *get() const {
            return static_cast<T *>(object_);
        }

      private:
        friend class HandleRegistry;
        Ref(detail::HandleCell *cell, void *object) : cell_(cell), object_(object) {}
        detail::HandleCell *cell_ = nullptr;
        void *object_ = nullptr;
    };

    Ref lookup(Token token, HandleKind kind);

    // Ends the handle's life without waiting for references to drain and without touching the
    // object: for a child process after fork(), where references held by the parent's threads
    // will never be dropped. False if the token was not live.
    bool abandon(Token token, HandleKind kind);

    // Number of cells in use (allocated and not freed); for leak checks in tests.
    size_t cells_in_use();

  private:
    using Cell = detail::HandleCell;
    static constexpr unsigned kChunkBits = 12;
    static constexpr uint32_t kChunkSize = 1u << kChunkBits;
    static constexpr uint32_t kMaxChunks = 1u << 12;  // 16M cells: index fits in 24 bits

    struct LocalCells;  // a thread's cache of free cells (handle_registry.cpp)
    static LocalCells &local_cells();

    HandleRegistry() = default;
    Cell *cell_at(uint32_t index) const;
    Cell *cell_for(Token token, HandleKind kind) const;

    std::atomic<Cell *> chunks_[kMaxChunks] = {};
    std::mutex mutex_;  // guards free_, next_index_, locals_ and chunk creation
    std::vector<uint32_t> free_;
    uint32_t next_index_ = 0;
    LocalCells *locals_ = nullptr;  // every live thread's cache (a list), for cells_in_use()
};

}  // namespace connpool
