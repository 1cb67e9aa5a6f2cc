package httpserver

// ErrorLog lets the external tests reach the server's error log.
var ErrorLog = errorLog
