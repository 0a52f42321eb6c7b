// libFuzzer target: request bodies -> call messages of http_test::lab (json_call_check.hpp).
#include "json_call_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http_export_fuzz::check_json_call({data, size});
    return 0;
}
