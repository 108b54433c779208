FROM python:3.11-slim
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e .
RUN useradd --system logdig && chown -R logdig /app
USER logdig
EXPOSE 8000
CMD ["logdig", "web", "--host", "0.0.0.0", "--port", "8000"]
