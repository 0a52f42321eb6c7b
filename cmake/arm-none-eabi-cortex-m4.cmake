# Toolchain: Cortex-M4 (QEMU mps2-an386), arm-none-eabi-gcc with picolibc (Debian packages
# gcc-arm-none-eabi, picolibc-arm-none-eabi, libstdc++-arm-none-eabi-picolibc).
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR cortex-m4)

set(CMAKE_C_COMPILER arm-none-eabi-gcc)
set(CMAKE_CXX_COMPILER arm-none-eabi-g++)
set(CMAKE_ASM_COMPILER arm-none-eabi-gcc)
set(CMAKE_OBJCOPY arm-none-eabi-objcopy)
set(CMAKE_SIZE arm-none-eabi-size)

# Try-compile a static library: there is no board to link a test executable for.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(AMB_CORTEX_M_FLAGS "-mcpu=cortex-m4 -mthumb -mfloat-abi=soft --specs=picolibc.specs -ffunction-sections -fdata-sections")
set(CMAKE_C_FLAGS_INIT "${AMB_CORTEX_M_FLAGS}")
# -Wno-psabi: g++ notes that passing some types (a std::span of a struct) changed ABI in GCC 7.1;
# the image is built by one compiler, so the note says nothing here and only fills the build log.
set(CMAKE_CXX_FLAGS_INIT "${AMB_CORTEX_M_FLAGS} -fno-exceptions -fno-rtti -fno-threadsafe-statics -Wno-psabi")
# mps2-an386 memory map: 4 MiB SSRAM1 at 0 (code), 4 MiB SSRAM2/3 at 0x20000000 (data).
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,--gc-sections -Wl,--defsym=__flash=0x00000000 -Wl,--defsym=__flash_size=0x00400000 -Wl,--defsym=__ram=0x20000000 -Wl,--defsym=__ram_size=0x00400000 -Wl,--defsym=__stack_size=0x10000")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
