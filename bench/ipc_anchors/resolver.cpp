// The resolver groups of benchmark `ipc` part 4 (resolver.hpp).
#include "resolver.hpp"

#include <ports/hosted/fiber_stack.hpp>
#include <hosted/node/channel.hpp>
#include <hosted/node/node_kernel.hpp>

#include <runtime/event_loop.hpp>
#include <runtime/fiber.hpp>
#include <runtime/job.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <unordered_map>

namespace amb::ipc_anchors {

using namespace hosted::node;
using ipc_bench::resolver;

std::string name_of(std::size_t index) {
    char text[32];
    std::snprintf(text, sizeof text, "host-%05zu.example", index);
    return text;
}

std::uint32_t address_of(std::size_t index) {
    return index < name_count ? 0x0a000000u + static_cast<std::uint32_t>(index) + 1 : 0;
}

unsigned owner_of(std::string_view name) {
    std::uint32_t hash = 2166136261u;
    for (char c : name) {
        hash ^= static_cast<std::uint8_t>(c);
        hash *= 16777619u;
    }
    return hash & 1;
}

std::vector<std::uint32_t> uniform_indices(std::size_t count, std::uint64_t seed) {
    std::vector<std::uint32_t> out(count);
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    for (auto& index : out) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        index = static_cast<std::uint32_t>(x % name_count);
    }
    return out;
}

namespace {

// Resolvers run their procedures to completion unless they wait for a backend.
constexpr rings::config resolver_ring{64, 512, 64, 64};

struct name_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept {
        return std::hash<std::string_view>{}(text);
    }
};
using name_table = std::unordered_map<std::string, std::uint32_t, name_hash, std::equal_to<>>;

std::optional<std::uint32_t> look_up(const name_table& table, std::string_view name) {
    auto found = table.find(name);
    if (found == table.end())
        return std::nullopt;
    return found->second;
}

class backend_resolver final : public resolver {
public:
    explicit backend_resolver(unsigned which) {
        for (std::size_t i = 0; i < name_count; ++i) {
            std::string name = name_of(i);
            if (owner_of(name) == which)
                known_.emplace(std::move(name), address_of(i));
        }
    }
    lidl::completion<std::uint32_t> resolve(std::string_view name) override {
        co_return look_up(known_, name).value_or(0);
    }

private:
    name_table known_;
};

name_table front_cache() {
    name_table cache;
    for (std::size_t i = 0; i < name_count; ++i)
        if (cached_in_front(i))
            cache.emplace(name_of(i), address_of(i));
    return cache;
}

class coroutine_front final : public resolver {
public:
    coroutine_front(resolver& low, resolver& high) : cache_(front_cache()), backends_{&low, &high} {}
    lidl::completion<std::uint32_t> resolve(std::string_view name) override {
        if (auto hit = look_up(cache_, name))
            co_return *hit;
        co_return co_await backends_[owner_of(name)]->resolve(name);
    }

private:
    name_table cache_;
    resolver* backends_[2];
};

class fiber_front final : public resolver {
public:
    fiber_front(amb::event_loop& loop, resolver& low, resolver& high)
        : loop_(loop), cache_(front_cache()), backends_{&low, &high} {}

    lidl::completion<std::uint32_t> resolve(std::string_view name) override {
        worker* w = acquire();
        if (w == nullptr)
            co_return amb::failure{lidl::call_error{lidl::call_fault::no_memory}};
        w->name = name;
        co_await run_on(*w);
        const lidl::call_result<std::uint32_t> answer = w->answer;
        release(*w);
        co_return answer;
    }

    std::size_t busy() const { return busy_; }
    std::size_t stacks() const { return workers_.size(); }
    // Bytes of the pool's stacks resident in memory now (mincore).
    std::uint64_t resident_stack_bytes() const {
        const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        std::uint64_t total = 0;
        std::vector<unsigned char> pages;
        for (const auto& w : workers_) {
            std::span<std::byte> stack = w->stack.usable();
            pages.resize((stack.size() + page - 1) / page);
            if (::mincore(stack.data(), stack.size(), pages.data()) != 0)
                continue;
            for (unsigned char resident : pages)
                total += (resident & 1) != 0 ? page : 0;
        }
        return total;
    }

private:
    struct worker;
    // Resumes the procedure's coroutine once the fiber has finished (a later turn of the loop).
    struct finished_work final : amb::loop_work {
        explicit finished_work(worker& owner) noexcept : loop_work(&run), owner(owner) {}
        static void run(loop_work& work) noexcept {
            static_cast<finished_work&>(work).owner.waiting.resume();
        }
        worker& owner;
    };
    struct worker {
        worker(fiber_front& front, ports::hosted::guarded_stack stack)
            : front(front), stack(std::move(stack)) {}
        fiber_front& front;
        ports::hosted::guarded_stack stack;
        std::optional<amb::fiber> running;
        std::string_view name;
        lidl::call_result<std::uint32_t> answer = 0u;  // the value or the backend's error
        std::coroutine_handle<> waiting;
        finished_work finished{*this};
        worker* next_idle = nullptr;
    };

    struct run_awaiter {
        worker& w;
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> waiting) {
            w.waiting = waiting;
            w.running.emplace(w.front.loop_, w.stack.usable(), &body, &w);
            w.running->start();
        }
        void await_resume() const noexcept {}
    };
    run_awaiter run_on(worker& w) { return {w}; }

    static void body(void* context) {
        worker& w = *static_cast<worker*>(context);
        fiber_front& self = w.front;
        if (auto hit = look_up(self.cache_, w.name))
            w.answer = *hit;
        else
            w.answer = amb::fiber_wait(amb::as_job(self.backends_[owner_of(w.name)]->resolve(w.name)));
        self.loop_.post(w.finished);
    }

    worker* acquire() {
        worker* w = idle_;
        if (w != nullptr) {
            idle_ = w->next_idle;
        } else {
            auto stack = ports::hosted::guarded_stack::create(fiber_stack_bytes);
            if (!stack)
                return nullptr;
            workers_.push_back(std::make_unique<worker>(*this, std::move(*stack)));
            w = workers_.back().get();
        }
        ++busy_;
        return w;
    }
    void release(worker& w) {
        w.running.reset();
        w.next_idle = idle_;
        idle_ = &w;
        --busy_;
    }

    amb::event_loop& loop_;
    name_table cache_;
    resolver* backends_[2];
    std::vector<std::unique_ptr<worker>> workers_;
    worker* idle_ = nullptr;
    std::size_t busy_ = 0;
};

using hosted::loop::process_loop;

std::unique_ptr<process_loop> make_loop() {
    auto loop = process_loop::create();
    return loop ? std::move(*loop) : nullptr;
}

// Counts the bytes of coroutine frames live on this thread (frames come from the usual pool).
class counting_frame_allocator final : public amb::frame_allocator {
public:
    void* allocate(std::size_t size) noexcept override {
        void* frame = amb::detail::frame_pool::allocate(size);
        if (frame != nullptr)
            live_ += size;
        return frame;
    }
    void release(void* frame, std::size_t size) noexcept override {
        live_ -= size;
        amb::detail::frame_pool::release(frame, size);
    }
    std::uint64_t live() const { return live_; }

private:
    std::uint64_t live_ = 0;
};

// The front process's measurements, in a shared anonymous mapping made before the fork.
struct shared_memory_stats {
    std::atomic<std::uint64_t> in_flight;
    std::atomic<std::uint64_t> frame_bytes;
    std::atomic<std::uint64_t> stack_bytes;
    std::atomic<std::uint64_t> stacks;
    std::atomic<std::uint64_t> resident_stack_bytes;
    std::atomic<std::uint64_t> answered;
};

// Samples the front's memory after each pass of its loop (see resolver.hpp).
template <class Server>
class memory_sampler final : public amb::loop_poller {
public:
    memory_sampler(Server& server, counting_frame_allocator& frames, fiber_front* fibers,
                   shared_memory_stats& out)
        : server_(server), frames_(frames), fibers_(fibers), out_(out) {}

    std::size_t progress() noexcept override {
        const std::uint64_t in_flight = server_.running();
        const std::uint64_t frames = frames_.live();
        const std::uint64_t stacks =
            fibers_ != nullptr ? fibers_->busy() * fiber_stack_bytes : 0;
        if (in_flight > best_in_flight_ ||
            (in_flight == best_in_flight_ && in_flight > 0 && frames + stacks > best_bytes_)) {
            best_in_flight_ = in_flight;
            best_bytes_ = frames + stacks;
            out_.in_flight.store(in_flight, std::memory_order_relaxed);
            out_.frame_bytes.store(frames, std::memory_order_relaxed);
            out_.stack_bytes.store(stacks, std::memory_order_relaxed);
            if (fibers_ != nullptr) {
                out_.stacks.store(fibers_->stacks(), std::memory_order_relaxed);
                out_.resident_stack_bytes.store(fibers_->resident_stack_bytes(),
                                                std::memory_order_relaxed);
            }
        }
        if (server_.answered() != answered_) {
            answered_ = server_.answered();
            out_.answered.store(answered_, std::memory_order_relaxed);
        }
        return 0;
    }
    bool prepare_sleep() noexcept override {
        // Sleeping means the front is idle: record what the pool holds now.
        if (fibers_ != nullptr) {
            out_.stacks.store(fibers_->stacks(), std::memory_order_relaxed);
            out_.resident_stack_bytes.store(fibers_->resident_stack_bytes(),
                                            std::memory_order_relaxed);
        }
        return true;
    }

private:
    Server& server_;
    counting_frame_allocator& frames_;
    fiber_front* fibers_;
    shared_memory_stats& out_;
    std::uint64_t best_in_flight_ = 0;
    std::uint64_t best_bytes_ = 0;
    std::uint64_t answered_ = 0;
};

using resolver_remote = ipc_bench::resolver_client<channel_backend<resolver>>;

int serve_backend(group_context& context, channel_id channel, unsigned which) {
    backend_resolver implementation(which);
    auto link = context.server_link(channel);
    if (!link)
        return 10;
    auto server = channel_server<resolver>::attach(*link, implementation);
    if (!server)
        return 11;
    auto loop = make_loop();
    if (!loop || !server->run_on(*loop))
        return 12;
    loop->run_until([] { return false; });
    return 0;
}

// The front in its own process: serves the kernel group, calls both backends.
int serve_front(group_context& context, front_kind kind, channel_id from_clients,
                channel_id to_low, channel_id to_high, shared_memory_stats* stats) {
    counting_frame_allocator frames;
    amb::scoped_frame_allocator counting(frames);
    auto server_link = context.server_link(from_clients);
    auto low_link = context.caller_link(to_low);
    auto high_link = context.caller_link(to_high);
    if (!server_link || !low_link || !high_link)
        return 10;
    auto low_caller = channel_caller::attach(*low_link);
    auto high_caller = channel_caller::attach(*high_link);
    if (!low_caller || !high_caller)
        return 11;
    resolver_remote low(*low_caller);
    resolver_remote high(*high_caller);
    auto loop = make_loop();  // the fibers' loop too: one loop in the process
    if (!loop)
        return 13;
    amb::event_loop& events = loop->loop();
    std::optional<coroutine_front> coroutines;
    std::optional<fiber_front> fibers;
    resolver* front = nullptr;
    if (kind == front_kind::coroutine)
        front = &coroutines.emplace(low, high);
    else
        front = &fibers.emplace(events, low, high);
    auto server = channel_server<resolver>::attach(*server_link, *front);
    if (!server)
        return 12;
    memory_sampler<channel_server<resolver>> sampler(*server, frames,
                                                     fibers ? &*fibers : nullptr, *stats);
    // The sampler runs right after the server (pollers run in the order they were added):
    // requests then in flight are those waiting for a backend (or, for fibers, for their fiber
    // to run); calls the server finished in this pass are retired already.
    if (!server->run_on(*loop))
        return 14;
    events.add_poller(sampler);
    if (!low_caller->run_on(*loop) || !high_caller->run_on(*loop))
        return 15;
    loop->run_until([] { return false; });
    return 0;
}

amb::task<void> client(resolver& api, const std::vector<std::string>& names,
                       std::span<const std::uint32_t> indices, std::size_t first,
                       std::size_t stride, std::size_t& wrong) {
    for (std::size_t i = first; i < indices.size(); i += stride) {
        const std::uint32_t index = indices[i];
        const std::string& name = index < names.size() ? names[index] : names.back();
        const std::uint32_t expected = index < names.size() - 1 ? address_of(index) : 0;
        const lidl::call_result<std::uint32_t> answer = co_await api.resolve(name);
        if (!answer || answer.value() != expected)
            ++wrong;
    }
}

}  // namespace

struct resolver_node::state {
    std::unique_ptr<process_loop> loop;  // first: it outlives what attaches to it
    front_placement placement;
    front_kind kind;
    node_kernel kernel;
    channel_id to_low = 0, to_high = 0, to_front = 0, front_to_low = 0, front_to_high = 0;
    shared_memory_stats* stats = nullptr;
    std::vector<std::string> names;  // every name, then one nobody knows
    std::optional<channel_caller> callers[2];
    std::optional<resolver_remote> backends[2];
    std::optional<coroutine_front> coroutines;
    std::optional<fiber_front> fibers;
    std::optional<ipc_bench::resolver_client<lidl::direct_backend<resolver>>> direct;
    std::optional<channel_caller> front_caller;
    std::optional<resolver_remote> front_remote;
    resolver* api = nullptr;

    ~state() {
        kernel.stop();
        if (stats != nullptr)
            ::munmap(stats, sizeof *stats);
    }
};

resolver_node::resolver_node(std::unique_ptr<state> running) : state_(std::move(running)) {}
resolver_node::~resolver_node() = default;

std::unique_ptr<resolver_node> resolver_node::start(front_placement placement, front_kind kind) {
    auto s = std::make_unique<state>();
    state* raw = s.get();
    s->placement = placement;
    s->kind = kind;
    s->names.reserve(name_count + 1);
    for (std::size_t i = 0; i < name_count; ++i)
        s->names.push_back(name_of(i));
    s->names.push_back("nobody.example");
    void* mapping = ::mmap(nullptr, sizeof(shared_memory_stats), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mapping == MAP_FAILED)
        return nullptr;
    s->stats = new (mapping) shared_memory_stats{};

    const bool own = placement == front_placement::own_process;
    const group_id low = s->kernel.add_group({"resolver-low", [raw, own](group_context& context) {
        return serve_backend(context, own ? raw->front_to_low : raw->to_low, 0);
    }});
    const group_id high = s->kernel.add_group({"resolver-high", [raw, own](group_context& context) {
        return serve_backend(context, own ? raw->front_to_high : raw->to_high, 1);
    }});
    if (own) {
        const group_id front = s->kernel.add_group({"resolver-front", [raw](group_context& context) {
            return serve_front(context, raw->kind, raw->to_front, raw->front_to_low,
                               raw->front_to_high, raw->stats);
        }});
        auto to_front = s->kernel.connect(kernel_group, front, resolver_ring);
        auto front_to_low = s->kernel.connect(front, low, resolver_ring);
        auto front_to_high = s->kernel.connect(front, high, resolver_ring);
        if (!to_front || !front_to_low || !front_to_high)
            return nullptr;
        s->to_front = *to_front;
        s->front_to_low = *front_to_low;
        s->front_to_high = *front_to_high;
    } else {
        auto to_low = s->kernel.connect(kernel_group, low, resolver_ring);
        auto to_high = s->kernel.connect(kernel_group, high, resolver_ring);
        if (!to_low || !to_high)
            return nullptr;
        s->to_low = *to_low;
        s->to_high = *to_high;
    }
    if (!s->kernel.start())
        return nullptr;
    s->loop = make_loop();  // after start: no group holds its descriptors
    if (!s->loop)
        return nullptr;
    group_context& kernel = s->kernel.kernel();
    if (own) {
        auto link = kernel.caller_link(s->to_front);
        if (!link)
            return nullptr;
        auto caller = channel_caller::attach(*link);
        if (!caller)
            return nullptr;
        s->front_caller.emplace(std::move(*caller));
        s->front_remote.emplace(*s->front_caller);
        s->api = &*s->front_remote;
        if (!s->front_caller->run_on(*s->loop))
            return nullptr;
    } else {
        const channel_id channels[2] = {s->to_low, s->to_high};
        for (int i = 0; i < 2; ++i) {
            auto link = kernel.caller_link(channels[i]);
            if (!link)
                return nullptr;
            auto caller = channel_caller::attach(*link);
            if (!caller)
                return nullptr;
            s->callers[i].emplace(std::move(*caller));
            s->backends[i].emplace(*s->callers[i]);
            if (!s->callers[i]->run_on(*s->loop))
                return nullptr;
        }
        resolver* front = nullptr;
        if (kind == front_kind::coroutine)
            front = &s->coroutines.emplace(*s->backends[0], *s->backends[1]);
        else
            front = &s->fibers.emplace(s->loop->loop(), *s->backends[0], *s->backends[1]);
        s->direct.emplace(*front);
        s->api = &*s->direct;
    }
    return std::unique_ptr<resolver_node>(new resolver_node(std::move(s)));
}

batch_result resolver_node::run(std::span<const std::uint32_t> indices, std::size_t concurrency) {
    state& s = *state_;
    batch_result out;
    if (concurrency == 0)
        return out;
    std::vector<amb::task<void>> clients;
    clients.reserve(concurrency);
    for (std::size_t k = 0; k < concurrency; ++k) {
        clients.push_back(client(*s.api, s.names, indices, k, concurrency, out.wrong));
        if (!clients.back().valid())
            return out;
    }
    for (auto& work : clients)
        work.start();
    std::size_t next_unfinished = 0;
    out.completed = s.loop->run_until(
        [&] {
            while (next_unfinished < clients.size() && clients[next_unfinished].done())
                ++next_unfinished;
            return next_unfinished == clients.size();
        },
        std::chrono::milliseconds(10000));
    return out;
}

front_memory resolver_node::memory() const {
    const shared_memory_stats& stats = *state_->stats;
    front_memory out;
    out.in_flight = stats.in_flight.load(std::memory_order_relaxed);
    out.frame_bytes = stats.frame_bytes.load(std::memory_order_relaxed);
    out.stack_bytes = stats.stack_bytes.load(std::memory_order_relaxed);
    out.stacks = stats.stacks.load(std::memory_order_relaxed);
    out.resident_stack_bytes = stats.resident_stack_bytes.load(std::memory_order_relaxed);
    out.answered = stats.answered.load(std::memory_order_relaxed);
    return out;
}

}  // namespace amb::ipc_anchors
