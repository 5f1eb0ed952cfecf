/* arduino_host.cpp: Arduino.h on a POSIX host, to run a sketch in a test: Serial reads what
 * stdin holds and writes stdout; millis() counts its own calls (deterministic output);
 * digitalWrite prints "[pin P = V]". main() runs setup(), then loop() until stdin is used up
 * and loop() has run 16 more times. */
#include <stdio.h>
#include <string.h>

#include "Arduino.h"

void setup();
void loop();

StubSerial Serial;

static unsigned char input[1 << 16];
static size_t input_len = 0;
static size_t input_at = 0;
static unsigned long clock_ms = 0;

size_t Print::write(const uint8_t *buf, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        write(buf[i]);
    }
    return n;
}

size_t Print::print(const char *s) { return write((const uint8_t *)s, strlen(s)); }
size_t Print::print(char c) { return write((uint8_t)c); }
size_t Print::print(unsigned char n, int base) { return print((unsigned long)n, base); }
size_t Print::print(int n, int base) { return print((long)n, base); }
size_t Print::print(unsigned int n, int base) { return print((unsigned long)n, base); }
size_t Print::print(long n, int base) {
    char buf[24];
    (void)base;
    snprintf(buf, sizeof buf, "%ld", n);
    return print(buf);
}
size_t Print::print(unsigned long n, int base) {
    char buf[24];
    (void)base;
    snprintf(buf, sizeof buf, "%lu", n);
    return print(buf);
}
size_t Print::println(const char *s) { return print(s) + println(); }
size_t Print::println(char c) { return print(c) + println(); }
size_t Print::println(int n, int base) { return print(n, base) + println(); }
size_t Print::println(long n, int base) { return print(n, base) + println(); }
size_t Print::println(unsigned long n, int base) { return print(n, base) + println(); }
size_t Print::println() { return print("\r\n"); }

void StubSerial::begin(unsigned long baud) { (void)baud; }
int StubSerial::available() { return (int)(input_len - input_at); }
int StubSerial::read() { return input_at < input_len ? input[input_at++] : -1; }
int StubSerial::peek() { return input_at < input_len ? input[input_at] : -1; }
size_t StubSerial::write(uint8_t c) { return fwrite(&c, 1, 1, stdout); }
size_t StubSerial::write(const uint8_t *buf, size_t n) { return fwrite(buf, 1, n, stdout); }
int StubSerial::availableForWrite() { return 4096; }
void StubSerial::flush() { fflush(stdout); }
StubSerial::operator bool() { return true; }

unsigned long millis() { return ++clock_ms; }
void delay(unsigned long ms) { clock_ms += ms; }
void yield() {}
void pinMode(uint8_t pin, uint8_t mode) { (void)pin; (void)mode; }
void digitalWrite(uint8_t pin, uint8_t value) { printf("[pin %u = %u]\n", (unsigned)pin, (unsigned)value); }

int main() {
    int idle = 0;
    input_len = fread(input, 1, sizeof input, stdin);
    setup();
    while (idle < 16) {
        const size_t before = input_at;
        loop();
        idle = input_at == input_len && before == input_at ? idle + 1 : 0;
    }
    fflush(stdout);
    return 0;
}
