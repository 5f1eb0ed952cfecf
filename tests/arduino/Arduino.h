/* Arduino.h: the part of the Arduino core API tlmc's Arduino code uses (firmware/ports/arduino,
 * the sketch of `tlmc build`, the library examples of `tlmc export`), declared as the cores
 * declare it, so the tests compile that code with -Wall -Wextra -Werror without a core.
 * arduino_host.cpp implements it on a POSIX host (stdin/stdout as Serial) to run examples. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define HIGH 0x1
#define LOW 0x0
#define INPUT 0x0
#define OUTPUT 0x1
#define LED_BUILTIN 13
#define DEC 10

class Print {
public:
    virtual ~Print() {}
    virtual size_t write(uint8_t c) = 0;
    virtual size_t write(const uint8_t *buf, size_t n);
    virtual int availableForWrite() { return 0; }
    size_t print(const char *s);
    size_t print(char c);
    size_t print(unsigned char n, int base = DEC);
    size_t print(int n, int base = DEC);
    size_t print(unsigned int n, int base = DEC);
    size_t print(long n, int base = DEC);
    size_t print(unsigned long n, int base = DEC);
    size_t println(const char *s);
    size_t println(char c);
    size_t println(int n, int base = DEC);
    size_t println(long n, int base = DEC);
    size_t println(unsigned long n, int base = DEC);
    size_t println();
};

class Stream : public Print {
public:
    virtual int available() = 0;
    virtual int read() = 0;
    virtual int peek() = 0;
};

class StubSerial : public Stream {
public:
    void begin(unsigned long baud);
    int available() override;
    int read() override;
    int peek() override;
    size_t write(uint8_t c) override;
    size_t write(const uint8_t *buf, size_t n) override;
    int availableForWrite() override;
    using Print::write;
    void flush();
    explicit operator bool();
};
extern StubSerial Serial;

unsigned long millis();
void delay(unsigned long ms);
void yield();
void pinMode(uint8_t pin, uint8_t mode);
void digitalWrite(uint8_t pin, uint8_t value);
