#include "handle_registry.hpp"

#include <new>

namespace connpool {
namespace {

constexpr uint64_t kLive = uint64_t{1} << 31;
constexpr uint64_t kRefMask = kLive - 1;
constexpr uint64_t kTag = uint64_t{1} << 63;

uint32_t generation_of(uint64_t word) {
    return static_cast<uint32_t>(word >> 32);
}

// Token layout: tag (bit 63) | kind (bits 62..56) | cell index (bits 55..32) | generation.
uint64_t make_token(HandleKind kind, uint32_t index, uint32_t generation) {
    return kTag | (uint64_t{static_cast<uint8_t>(kind)} << 56) | (uint64_t{index} << 32) |
           generation;
}

}  // namespace

HandleRegistry &HandleRegistry::instance() {
    // Never destroyed: handles may be used from threads still running at process exit.
    static HandleRegistry *registry = new HandleRegistry();
    return *registry;
}

// A few free cells kept by each thread. Every statement publishes and retires a result handle,
// usually on one thread: with a cache, neither takes the registry mutex (two lock round trips
// per statement, contended between the threads of a busy client). A thread's cells go back to
// the shared list when it exits.
struct HandleRegistry::LocalCells {
    static constexpr uint32_t kCapacity = 32;
    uint32_t cells[kCapacity];
    std::atomic<uint32_t> count{0};  // written by the owning thread; read by cells_in_use()
    // Every live thread's cache, for cells_in_use(): an intrusive list (guarded by the registry
    // mutex), so registering a thread never allocates (free_cell runs in destructors).
    LocalCells *prev = nullptr, *next = nullptr;

    LocalCells() {
        HandleRegistry &registry = instance();
        std::lock_guard<std::mutex> lock(registry.mutex_);
        next = registry.locals_;
        if (next != nullptr) next->prev = this;
        registry.locals_ = this;
    }
    ~LocalCells() {
        HandleRegistry &registry = instance();
        std::lock_guard<std::mutex> lock(registry.mutex_);
        const uint32_t n = count.load(std::memory_order_relaxed);
        for (uint32_t i = 0; i < n; ++i) registry.free_.push_back(cells[i]);  // room reserved
        count.store(0, std::memory_order_relaxed);
        (prev != nullptr ? prev->next : registry.locals_) = next;
        if (next != nullptr) next->prev = prev;
    }
};

HandleRegistry::LocalCells &HandleRegistry::local_cells() {
    thread_local LocalCells cells;
    return cells;
}

HandleRegistry::Cell *HandleRegistry::cell_at(uint32_t index) const {
    Cell *chunk = chunks_[index >> kChunkBits].load(std::memory_order_acquire);
    return chunk == nullptr ? nullptr : &chunk[index & (kChunkSize - 1)];
}

HandleRegistry::Cell *HandleRegistry::cell_for(Token token, HandleKind kind) const {
    if ((token & kTag) == 0) return nullptr;
    if (((token >> 56) & 0x7f) != static_cast<uint8_t>(kind)) return nullptr;
    uint32_t index = static_cast<uint32_t>((token >> 32) & 0xffffff);
    if ((index >> kChunkBits) >= kMaxChunks) return nullptr;
    Cell *cell = cell_at(index);
    if (cell == nullptr || cell->kind.load(std::memory_order_relaxed) != kind) return nullptr;
    return cell;
}

uint32_t HandleRegistry::allocate_cell(HandleKind kind) {
    LocalCells &local = local_cells();
    if (const uint32_t n = local.count.load(std::memory_order_relaxed); n > 0) {
        const uint32_t index = local.cells[n - 1];
        local.count.store(n - 1, std::memory_order_relaxed);
        cell_at(index)->kind.store(kind, std::memory_order_relaxed);
        return index;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    uint32_t index;
    if (!free_.empty()) {
        index = free_.back();
        free_.pop_back();
    } else {
        if (next_index_ >= kChunkSize * kMaxChunks) throw std::bad_alloc();
        index = next_index_;
        uint32_t chunk = index >> kChunkBits;
        if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr) {
            chunks_[chunk].store(new Cell[kChunkSize], std::memory_order_release);
        }
        // free_cell() must never need to allocate: keep room for every cell ever allocated.
        if (free_.capacity() < next_index_ + 1) free_.reserve(2 * size_t{next_index_ + 1});
        ++next_index_;
    }
    cell_at(index)->kind.store(kind, std::memory_order_relaxed);
    return index;
}

void HandleRegistry::free_cell(uint32_t index) {
    LocalCells &local = local_cells();
    if (const uint32_t n = local.count.load(std::memory_order_relaxed); n < LocalCells::kCapacity) {
        local.cells[n] = index;
        local.count.store(n + 1, std::memory_order_relaxed);
        return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(index);  // capacity reserved in allocate_cell
}

size_t HandleRegistry::cells_in_use() {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t cached = 0;
    for (const LocalCells *local = locals_; local != nullptr; local = local->next) {
        cached += local->count.load(std::memory_order_relaxed);
    }
    return next_index_ - free_.size() - cached;
}

HandleRegistry::Token HandleRegistry::publish(uint32_t index, void *object) {
    // The index came from allocate_cell, so its chunk exists.
    Cell *cell =
        &chunks_[index >> kChunkBits].load(std::memory_order_acquire)[index & (kChunkSize - 1)];
    cell->object.store(object, std::memory_order_relaxed);
    uint64_t word = cell->word.load(std::memory_order_relaxed);
    uint32_t generation = generation_of(word);
    cell->word.store((uint64_t{generation} << 32) | kLive, std::memory_order_release);
    return make_token(cell->kind.load(std::memory_order_relaxed), index, generation);
}

void *HandleRegistry::retire(Token token, HandleKind kind, bool recycle_cell) {
    Cell *cell = cell_for(token, kind);
    if (cell == nullptr) return nullptr;
    uint32_t generation = static_cast<uint32_t>(token);
    uint64_t word = cell->word.load(std::memory_order_acquire);
    do {
        if (generation_of(word) != generation || (word & kLive) == 0) return nullptr;
    } while (!cell->word.compare_exchange_weak(word, word & ~kLive, std::memory_order_acq_rel));
    // We won: no new reference can be taken. Wait for the existing ones to drain.
    word &= ~kLive;
    while ((word & kRefMask) != 0) {
        cell->word.wait(word, std::memory_order_acquire);
        word = cell->word.load(std::memory_order_acquire);
    }
    void *object = cell->object.exchange(nullptr, std::memory_order_acq_rel);
    // Next life gets a new generation (wrapping after 2^32 lives of one cell).
    cell->word.store(uint64_t{generation + 1u} << 32, std::memory_order_release);
    if (recycle_cell) free_cell(static_cast<uint32_t>((token >> 32) & 0xffffff));
    return object;
}

bool HandleRegistry::abandon(Token token, HandleKind kind) {
    Cell *cell = cell_for(token, kind);
    if (cell == nullptr) return false;
    const uint32_t generation = static_cast<uint32_t>(token);
    uint64_t word = cell->word.load(std::memory_order_acquire);
    do {
        if (generation_of(word) != generation || (word & kLive) == 0) return false;
    } while (!cell->word.compare_exchange_weak(word, word & ~kLive, std::memory_order_acq_rel));
    return true;
}

HandleRegistry::Ref HandleRegistry::lookup(Token token, HandleKind kind) {
    Cell *cell = cell_for(token, kind);
    if (cell == nullptr) return {};
    uint32_t generation = static_cast<uint32_t>(token);
    uint64_t word = cell->word.load(std::memory_order_acquire);
    do {
        if (generation_of(word) != generation || (word & kLive) == 0) return {};
        if ((word & kRefMask) == kRefMask) return {};  // 2^31 concurrent references: refuse
    } while (!cell->word.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel));
    return Ref(cell, cell->object.load(std::memory_order_acquire));
}

HandleRegistry::Ref::~Ref() {
    if (cell_ == nullptr) return;
    uint64_t before = cell_->word.fetch_sub(1, std::memory_order_acq_rel);
    // A retiring thread waits for the last reference; wake it.
    if ((before & kLive) == 0 && (before & kRefMask) == 1) cell_->word.notify_all();
}

}  // namespace connpool
