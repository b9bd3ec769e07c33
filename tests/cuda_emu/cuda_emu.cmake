# The emulator's sources (included from CMakeLists.txt when CUDA is built): cuda/*.cu and
# cuda/*.cuh translated into the build tree (translate.cmake), to be compiled by the host C++
# compiler with cuda_emu.hpp force-included, plus the emulated CUDA runtime and cuBLAS. Sets
# XCLIP_EMU_SOURCES and the target xclip_emu_headers (the translated .cuh files).
set(XCLIP_EMU_DIR "${CMAKE_CURRENT_SOURCE_DIR}/tests/cuda_emu")
set(XCLIP_EMU_OUT "${CMAKE_CURRENT_BINARY_DIR}/cuda_emu")
# -fsanitize=alignment: a misaligned access (a uint4 / float4 word at an address that is not a
# multiple of 16) is a fault on a GPU; here it stops the process with the sanitizer's message.
set(XCLIP_EMU_COMPILE_OPTIONS
  "-include;${XCLIP_EMU_DIR}/cuda_emu.hpp;-fno-strict-aliasing;-ffp-contract=off;-Wno-unused-parameter;-Wno-unknown-pragmas;-Wno-sign-compare;-fsanitize=alignment;-fno-sanitize-recover=alignment")

# The translated copy of `src` (a .cu becomes <name>.cpp) in `out_dir`, returned in `out_var`.
function(xclip_emu_translate src out_dir out_var)
  get_filename_component(name "${src}" NAME)
  file(RELATIVE_PATH rel "${CMAKE_CURRENT_SOURCE_DIR}" "${src}")
  if(name MATCHES "\\.cu$")
    set(out "${out_dir}/${name}.cpp")
  else()
    set(out "${out_dir}/${name}")
  endif()
  add_custom_command(OUTPUT "${out}"
    COMMAND ${CMAKE_COMMAND} -DIN=${src} -DOUT=${out} -DNAME=${rel} -P ${XCLIP_EMU_DIR}/translate.cmake
    DEPENDS "${src}" "${XCLIP_EMU_DIR}/translate.cmake"
    COMMENT "cuda-emu: translating ${rel}")
  if(name MATCHES "\\.cu$")
    set_source_files_properties("${out}" PROPERTIES COMPILE_OPTIONS "${XCLIP_EMU_COMPILE_OPTIONS}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

file(GLOB XCLIP_EMU_CUDA_FILES CONFIGURE_DEPENDS cuda/*.cu cuda/*.cuh)
set(XCLIP_EMU_SOURCES "")
set(XCLIP_EMU_HEADERS "")
foreach(src ${XCLIP_EMU_CUDA_FILES})
  xclip_emu_translate("${src}" "${XCLIP_EMU_OUT}" out)
  if(out MATCHES "\\.cu\\.cpp$")
    list(APPEND XCLIP_EMU_SOURCES "${out}")
  else()
    list(APPEND XCLIP_EMU_HEADERS "${out}")
  endif()
endforeach()
add_custom_target(xclip_emu_headers DEPENDS ${XCLIP_EMU_HEADERS})
set_source_files_properties(${XCLIP_EMU_SOURCES} PROPERTIES INCLUDE_DIRECTORIES "${XCLIP_EMU_OUT}")
list(APPEND XCLIP_EMU_SOURCES "${XCLIP_EMU_DIR}/emu_scheduler.cpp" "${XCLIP_EMU_DIR}/emu_runtime.cpp"
     "${XCLIP_EMU_DIR}/emu_cublas.cpp")
