#include <runtime/timer.hpp>

namespace amb {

void sleep_job::fire(loop_work& work) noexcept {
    sleep_job& self = static_cast<sleep_job&>(work);
    if (self.cancelled_)
        self.done_->complete(failure{timer_error::cancelled});
    else
        self.done_->complete(value_type());
}

}  // namespace amb
