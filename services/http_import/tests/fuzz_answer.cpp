// libFuzzer target: HTTP answers -> results of import_test::lab (answer_check.hpp).
#include "answer_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    http_import_fuzz::check_answer({data, size});
    return 0;
}
