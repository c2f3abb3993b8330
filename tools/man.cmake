# Writes one man page from a command's own --help and --version with
# help2man, so the page and the help never disagree.  Run as
#   cmake -DHELP2MAN=... -DPROGRAM=... -DCOMMAND=search|"" -DNAME=... -DOUT=... [-DSEE_ALSO=a;b] -P man.cmake
# A command's page is named like git's (parsec-run-search(1)).
if(COMMAND)
  set(help "${COMMAND} --help")
  set(version "${COMMAND} --version")
else()
  set(help "--help")
  set(version "--version")
endif()
execute_process(
  COMMAND ${HELP2MAN} --no-info --no-discard-stderr "--name=${NAME}" "--help-option=${help}"
          "--version-option=${version}" "--section=1" ${PROGRAM}
  OUTPUT_VARIABLE page RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed on ${PROGRAM} ${COMMAND}")
endif()
if(COMMAND)
  get_filename_component(tool ${PROGRAM} NAME)
  string(TOUPPER "${tool}-${COMMAND}" upper)
  string(REGEX REPLACE "\\.TH [^ ]+ " ".TH ${upper} " page "${page}")
  string(REGEX REPLACE "\n${tool} \\\\- " "\n${tool}-${COMMAND} \\\\- " page "${page}")
  string(APPEND page ".SH \"SEE ALSO\"\n\\fB${tool}\\fR(1)\n")
elseif(SEE_ALSO)
  string(REPLACE ";" "\\fR(1), \\fB" also "${SEE_ALSO}")
  string(APPEND page ".SH \"SEE ALSO\"\n\\fB${also}\\fR(1)\n")
endif()
file(WRITE ${OUT} "${page}")
