# Copies one cuda/ source into the emulator build (tests/cuda_emu/cuda_emu.hpp), rewriting
#   kernel<<<grid, block, shared, stream>>>(args)  ->  kernel | ::xclip_emu::LaunchConfig(__FILE__, __LINE__, grid, block, shared, stream)(args)
#   extern __shared__ <type> name[];              ->  <type>* const name = <dynamic shared memory>;
# and nothing else. A #line directive keeps the original file name in messages and diagnostics.
# Usage: cmake -DIN=<source> -DOUT=<copy> -DNAME=<name for #line> -P translate.cmake
file(READ "${IN}" text)
string(REGEX MATCHALL "<<<" opens "${text}")
string(REGEX MATCHALL ">>>" closes "${text}")
list(LENGTH opens n_open)
list(LENGTH closes n_close)
if(NOT n_open EQUAL n_close)
  message(FATAL_ERROR "${IN}: ${n_open} '<<<' but ${n_close} '>>>'")
endif()
string(REPLACE "<<<" " | ::xclip_emu::LaunchConfig(__FILE__, __LINE__, " text "${text}")
string(REPLACE ">>>" ")" text "${text}")
string(REGEX REPLACE "extern __shared__ __align__\\([0-9]+\\) ([A-Za-z_0-9 ]+[A-Za-z_0-9]) ([A-Za-z_0-9]+)\\[\\];"
       "\\1* const \\2 = static_cast<\\1*>(::xclip_emu::dynamic_shared());" text "${text}")
string(REGEX REPLACE "extern __shared__ ([A-Za-z_0-9 ]+[A-Za-z_0-9]) ([A-Za-z_0-9]+)\\[\\];"
       "\\1* const \\2 = static_cast<\\1*>(::xclip_emu::dynamic_shared());" text "${text}")
if(text MATCHES "extern __shared__")
  message(FATAL_ERROR "${IN}: an extern __shared__ declaration the emulator translation does not handle")
endif()
file(WRITE "${OUT}.tmp" "#line 1 \"${NAME}\"\n${text}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
